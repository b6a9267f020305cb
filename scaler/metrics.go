package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// The autoscale samples of a pool are also published to the metrics stream
// (topology.MetricsStream), which keeps them for SampleHistory, so that a
// restarted scaler, or the one that takes a lease over, evaluates formulas
// on the whole last hour rather than on what it sampled itself.

// maxUnsettledAcks bounds the publish acks the scaler keeps to check; past
// it the oldest are no longer checked (their errors go unlogged).
const maxUnsettledAcks = 1024

// publishSample records a sample in the metrics stream without waiting for
// the ack. Errors, now or in the acks of earlier publishes, are logged and
// otherwise ignored: the in-memory history is unaffected.
func (s *Scaler) publishSample(ctx context.Context, log *slog.Logger, ps *poolState, smp protocol.PoolSample) {
	s.checkAcks(ctx)
	b, err := json.Marshal(smp)
	if err != nil {
		log.ErrorContext(ctx, "encode sample", "err", err)
		return
	}
	f, err := s.js.PublishAsync(topology.MetricsSubject(ps.account, ps.pool), b)
	if err != nil {
		log.WarnContext(ctx, "publish sample", "err", err)
		return
	}
	if len(s.acks) >= maxUnsettledAcks {
		s.acks = s.acks[1:]
	}
	s.acks = append(s.acks, f)
}

// checkAcks logs the failed publishes among the settled acks and forgets
// every settled one. It does not wait.
func (s *Scaler) checkAcks(ctx context.Context) {
	keep := s.acks[:0]
	for _, f := range s.acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			s.log.WarnContext(ctx, "publish sample", "subject", f.Msg().Subject, "err", err)
		default:
			keep = append(keep, f)
		}
	}
	clear(s.acks[len(keep):])
	s.acks = keep
}

// loadSamples reads a pool's samples of the last SampleHistory before now
// from the metrics stream, oldest first. An error leaves the history with
// what was read (logged): sampling goes on from there.
func (s *Scaler) loadSamples(ctx context.Context, log *slog.Logger, ps *poolState, now time.Time) []protocol.PoolSample {
	out, err := ReadSamples(ctx, s.js, ps.account, ps.pool, now.Add(-SampleHistory), now)
	if err != nil {
		log.WarnContext(ctx, "load samples", "err", err)
	}
	log.DebugContext(ctx, "loaded sample history", "samples", len(out))
	return out
}

// ReadSamples reads the autoscale samples of a pool (by account and pool
// key) taken after from and not after now from the metrics stream, oldest
// first: the history the scaler evaluates formulas on, for a restarted
// scaler and for the dispatcher's evaluateautoscale dry run. No stream or
// no sample is no error. Unreadable samples are skipped. On an error the
// samples read so far are returned with it.
func ReadSamples(ctx context.Context, js jetstream.JetStream, account, pool string, from, now time.Time) ([]protocol.PoolSample, error) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	subject := topology.MetricsSubject(account, pool)
	stream, err := js.Stream(octx, topology.MetricsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metrics stream: %w", err)
	}
	last, err := stream.GetLastMsgForSubject(octx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last sample: %w", err)
	}
	if !last.Time.After(from) {
		return nil, nil
	}
	cons, err := js.OrderedConsumer(octx, topology.MetricsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime: &from, InactiveThreshold: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("sample consumer: %w", err)
	}
	var out []protocol.PoolSample
	empty := 0 // empty fetches in a row
	for {
		// The samples are stored: fetch what is there, without waiting for
		// a full batch (a Fetch would wait out its MaxWait on the last one).
		msgs, err := cons.FetchNoWait(1000)
		if err != nil {
			return out, fmt.Errorf("fetch samples: %w", err)
		}
		done, n := false, 0
		for m := range msgs.Messages() {
			n++
			var ps protocol.PoolSample
			if err := json.Unmarshal(m.Data(), &ps); err == nil && ps.At.After(from) && !ps.At.After(now) {
				out = append(out, ps)
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last.Sequence {
				done = true
			}
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return out, fmt.Errorf("fetch samples: %w", err)
		}
		switch {
		case done:
			return out, nil
		case n > 0:
			empty = 0
		case empty >= 3: // the last sample was deleted meanwhile (its age)
			return out, nil
		default:
			empty++
			select {
			case <-octx.Done():
				return out, fmt.Errorf("fetch samples: %w", octx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}
