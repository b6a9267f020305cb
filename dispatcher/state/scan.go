package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// scanBatch is how many entries one pull of a scan asks for.
const scanBatch = 256

// Scan calls fn with the live entries whose key matches filter, in the
// order they were last written (their revision), starting after revision
// after (0: from the start), until fn returns false or none is left.
//
// It reads only what it hands to fn (plus one batch), so a list page costs
// the page, not the whole job. A bucket keeps one revision per key, so each
// live key appears once; a key written again during a scan moves to the end
// and may be seen twice, never missed.
func (r *Repo[T]) Scan(ctx context.Context, filter string, after uint64, fn func(Entry[T]) bool) error {
	bucket := r.kv.Bucket()
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$KV." + bucket + "." + filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	}
	cons, err := r.js.OrderedConsumer(ctx, "KV_"+bucket, cfg)
	if err != nil {
		return fmt.Errorf("scan %s: %w", filter, err)
	}
	prefix := "$KV." + bucket + "."
	for {
		batch, err := cons.FetchNoWait(scanBatch)
		if err != nil {
			return fmt.Errorf("scan %s: %w", filter, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				continue
			}
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("scan %s: %w", filter, err)
			}
			v := new(T)
			if err := json.Unmarshal(m.Data(), v); err != nil {
				return fmt.Errorf("decode %s: %w", m.Subject(), err)
			}
			if !fn(Entry[T]{Key: strings.TrimPrefix(m.Subject(), prefix), Revision: meta.Sequence.Stream, Value: v}) {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("scan %s: %w", filter, err)
		}
		if n == 0 {
			return nil
		}
	}
}
