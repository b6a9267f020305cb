package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/topology"
)

// The autoscale samples of a pool are also published to the metrics stream
// (topology.MetricsStream), which keeps them for SampleHistory, so that a
// restarted scaler, or the one that takes a lease over, evaluates formulas
// on the whole last hour rather than on what it sampled itself.

// metricSample is a sample as stored in the metrics stream.
type metricSample struct {
	At          time.Time `json:"at"`
	Active      float64   `json:"active"`
	Running     float64   `json:"running"`
	Pending     float64   `json:"pending"`
	Dedicated   float64   `json:"dedicated"`
	LowPriority float64   `json:"lowPriority"`
	// Absent in samples written before these variables existed: 0.
	Succeeded    float64 `json:"succeeded,omitempty"`
	Failed       float64 `json:"failed,omitempty"`
	ActiveSlots  float64 `json:"activeSlots,omitempty"`
	RunningSlots float64 `json:"runningSlots,omitempty"`
	PendingSlots float64 `json:"pendingSlots,omitempty"`
}

func (m metricSample) sample() sample {
	return sample{at: m.At, active: m.Active, running: m.Running, pending: m.Pending,
		dedicated: m.Dedicated, lowPriority: m.LowPriority, succeeded: m.Succeeded, failed: m.Failed,
		activeSlots: m.ActiveSlots, runningSlots: m.RunningSlots, pendingSlots: m.PendingSlots}
}

func toMetric(s sample) metricSample {
	return metricSample{At: s.at.UTC(), Active: s.active, Running: s.running, Pending: s.pending,
		Dedicated: s.dedicated, LowPriority: s.lowPriority, Succeeded: s.succeeded, Failed: s.failed,
		ActiveSlots: s.activeSlots, RunningSlots: s.runningSlots, PendingSlots: s.pendingSlots}
}

// maxUnsettledAcks bounds the publish acks the scaler keeps to check; past
// it the oldest are no longer checked (their errors go unlogged).
const maxUnsettledAcks = 1024

// publishSample records a sample in the metrics stream without waiting for
// the ack. Errors, now or in the acks of earlier publishes, are logged and
// otherwise ignored: the in-memory history is unaffected.
func (s *Scaler) publishSample(ctx context.Context, log *slog.Logger, ps *poolState, smp sample) {
	s.checkAcks(ctx)
	b, err := json.Marshal(toMetric(smp))
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
// from the metrics stream, oldest first. A missing stream or an error
// leaves the history empty (logged): sampling starts afresh.
func (s *Scaler) loadSamples(ctx context.Context, log *slog.Logger, ps *poolState, now time.Time) []sample {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	subject := topology.MetricsSubject(ps.account, ps.pool)
	stream, err := s.js.Stream(octx, topology.MetricsStream)
	if err != nil {
		log.WarnContext(ctx, "load samples: metrics stream", "err", err)
		return nil
	}
	last, err := stream.GetLastMsgForSubject(octx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		log.WarnContext(ctx, "load samples: last sample", "err", err)
		return nil
	}
	from := now.Add(-SampleHistory)
	if last.Time.Before(from) {
		return nil
	}
	cons, err := s.js.OrderedConsumer(octx, topology.MetricsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime: &from, InactiveThreshold: 10 * time.Second})
	if err != nil {
		log.WarnContext(ctx, "load samples: consumer", "err", err)
		return nil
	}
	var out []sample
	for {
		msgs, err := cons.Fetch(1000, jetstream.FetchMaxWait(opTimeout))
		if err != nil {
			log.WarnContext(ctx, "load samples: fetch", "err", err)
			return out
		}
		done, n := false, 0
		for m := range msgs.Messages() {
			n++
			var ms metricSample
			if err := json.Unmarshal(m.Data(), &ms); err != nil {
				log.WarnContext(ctx, "load samples: unreadable sample", "err", err)
			} else if ms.At.After(from) && !ms.At.After(now) {
				out = append(out, ms.sample())
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last.Sequence {
				done = true
			}
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			log.WarnContext(ctx, "load samples: fetch", "err", err)
			return out
		}
		if done || n == 0 {
			log.DebugContext(ctx, "loaded sample history", "samples", len(out))
			return out
		}
	}
}
