package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// scanBatch is how many entries one request of a scan asks for.
const scanBatch = 256

// scanWait bounds the wait for each reply of a scan whose context has no
// deadline.
const scanWait = 10 * time.Second

// Scan calls fn with the live entries whose key matches filter, in the
// order they were last written (their revision), starting after revision
// after (0: from the start), until fn returns false or none is left.
//
// It reads only what it hands to fn (plus one batch), so a list page costs
// the page, not the whole job. A bucket keeps one revision per key, so each
// live key appears once; a key written again during a scan moves to the end
// and may be seen twice, never missed.
//
// A scan ends when the stream says exactly that nothing is left. (A
// consumer's "no messages" is not exact: its pending count drops for a
// moment when a key's old revision goes before the new one is counted, and
// scans trusting it came up short while keys were written.)
func (r *Repo[T]) Scan(ctx context.Context, filter string, after uint64, fn func(Entry[T]) bool) error {
	if r.stream.CachedInfo().Config.AllowDirect {
		return r.scanDirect(ctx, filter, after, fn)
	}
	return r.scanLeader(ctx, filter, after, fn)
}

// scanDirect scans with batched direct gets: each batch is read atomically
// with respect to writes, and its end-of-batch reply counts the matching
// messages after it. Only for a bucket with one replica: a direct get may
// be answered by a follower that has not applied the latest writes yet.
func (r *Repo[T]) scanDirect(ctx context.Context, filter string, after uint64, fn func(Entry[T]) bool) error {
	bucket := r.kv.Bucket()
	prefix := "$KV." + bucket + "."
	subj := r.apiPrefix() + "DIRECT.GET.KV_" + bucket
	nc := r.js.Conn()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("scan %s: %w", filter, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	req := struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
		Batch   int    `json:"batch"`
	}{after + 1, prefix + filter, scanBatch}
	ask := func() error {
		body, _ := json.Marshal(req)
		return nc.PublishRequest(subj, inbox, body)
	}
	if err := ask(); err != nil {
		return fmt.Errorf("scan %s: %w", filter, err)
	}
	for {
		m, err := r.nextReply(ctx, sub)
		if err != nil {
			return fmt.Errorf("scan %s: %w", filter, err)
		}
		switch status := m.Header.Get("Status"); status {
		case "": // an entry
		case "404": // nothing (left) to read
			return nil
		case "204": // end of a batch: more to read, or done
			if m.Header.Get("Nats-Num-Pending") == "0" {
				return nil
			}
			if err := ask(); err != nil {
				return fmt.Errorf("scan %s: %w", filter, err)
			}
			continue
		default:
			return fmt.Errorf("scan %s: %s %s", filter, status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return fmt.Errorf("scan %s: bad sequence: %w", filter, err)
		}
		req.Seq = seq + 1
		if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			continue
		}
		key := m.Header.Get("Nats-Subject")
		v := new(T)
		if err := json.Unmarshal(m.Data, v); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		if !fn(Entry[T]{Key: strings.TrimPrefix(key, prefix), Revision: seq, Value: v}) {
			return nil
		}
	}
}

// scanLeader scans a replicated bucket from its stream leader: in batches
// through a consumer of its own, and where the consumer says it has no more,
// by asking the leader for the next matching entry (a consumer's "no
// messages" may come early); the scan ends when the leader has none.
func (r *Repo[T]) scanLeader(ctx context.Context, filter string, after uint64, fn func(Entry[T]) bool) error {
	bucket := r.kv.Bucket()
	prefix := "$KV." + bucket + "."
	cfg := jetstream.ConsumerConfig{FilterSubjects: []string{prefix + filter}, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1, InactiveThreshold: time.Minute}
	if after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	}
	cons, err := r.js.CreateConsumer(ctx, "KV_"+bucket, cfg)
	if err != nil {
		return fmt.Errorf("scan %s: %w", filter, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = r.js.DeleteConsumer(dctx, "KV_"+bucket, cons.CachedInfo().Name)
	}()
	next := after + 1 // the lowest revision not handed to fn yet
	// emit hands an entry to fn, once: the consumer delivers again what
	// the leader gave.
	emit := func(subject string, seq uint64, h nats.Header, data []byte) (bool, error) {
		if seq < next {
			return true, nil
		}
		next = seq + 1
		if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return true, nil
		}
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return false, fmt.Errorf("decode %s: %w", subject, err)
		}
		return fn(Entry[T]{Key: strings.TrimPrefix(subject, prefix), Revision: seq, Value: v}), nil
	}
	for wait := time.Millisecond; ; {
		batch, err := cons.FetchNoWait(scanBatch)
		if err != nil {
			return fmt.Errorf("scan %s: %w", filter, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("scan %s: %w", filter, err)
			}
			if more, err := emit(m.Subject(), meta.Sequence.Stream, m.Headers(), m.Data()); !more || err != nil {
				return err
			}
		}
		switch err := batch.Error(); {
		case n == 0 && errors.Is(err, nats.ErrNoResponders) && wait < time.Second:
			// On a cluster a new consumer's leader may not listen yet.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
			continue
		case err != nil && !errors.Is(err, jetstream.ErrNoMessages):
			return fmt.Errorf("scan %s: %w", filter, err)
		case n > 0:
			continue
		}
		m, err := r.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(prefix+filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("scan %s: %w", filter, err)
		}
		if more, err := emit(m.Subject, m.Sequence, m.Header, m.Data); !more || err != nil {
			return err
		}
	}
}

// nextReply waits for the next reply of a scan.
func (r *Repo[T]) nextReply(ctx context.Context, sub *nats.Subscription) (*nats.Msg, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, scanWait)
		defer cancel()
	}
	m, err := sub.NextMsgWithContext(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("no reply from the stream: %w", err)
	}
	return m, err
}

// apiPrefix is the JetStream API subject prefix of the repo's connection.
func (r *Repo[T]) apiPrefix() string {
	o := r.js.Options()
	switch {
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	}
	return "$JS.API."
}
