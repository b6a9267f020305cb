package scaler

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/scaler/formula"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// Autoscale sampling: one sample per pool per SamplePeriod, kept for
// SampleHistory in memory and in the metrics stream.
const (
	SamplePeriod  = time.Second
	SampleHistory = topology.MetricsMaxAge
)

// autoscaleState is a pool's autoscale bookkeeping between rounds.
type autoscaleState struct {
	samples  []protocol.PoolSample // oldest first
	rates    map[string]*nodeRates // node counters between samples, by node key
	formula  string                // the formula last evaluated
	parsed   *formula.Formula
	lastEval time.Time
	loaded   bool // the history was read from the metrics stream
}

// autoscaling reports whether a pool's targets come from its formula.
func autoscaling(p *batch.Pool) bool {
	return p != nil && p.EnableAutoScale != nil && *p.EnableAutoScale && p.AutoScaleFormula != "" &&
		p.State != batch.PoolDeleting
}

// autoscale samples an autoscale pool's numbers and, when its evaluation
// interval has passed (or its formula changed), evaluates the formula and
// writes the targets and autoScaleRun into the pool record. The written
// record is folded into the view, so that this round's Decide acts on it.
func (s *Scaler) autoscale(ctx context.Context, log *slog.Logger, ps *poolState, now time.Time) {
	if !autoscaling(ps.rec) {
		ps.auto = autoscaleState{}
		return
	}
	a := &ps.auto
	if !a.loaded {
		a.samples, a.loaded = s.loadSamples(ctx, log, ps, now), true
	}
	s.takeSample(ctx, log, ps, now)
	if len(a.samples) == 0 {
		return // no numbers yet: evaluate once there are
	}
	interval := 15 * time.Minute // Azure's default
	if ps.rec.AutoScaleEvaluationInterval != nil {
		interval = max(ps.rec.AutoScaleEvaluationInterval.Std(), time.Second)
	}
	changed := ps.rec.AutoScaleFormula != a.formula
	last := a.lastEval
	if r := ps.rec.AutoScaleRun; r != nil && r.Timestamp.After(last) {
		last = r.Timestamp.Time
	}
	if !changed && !last.IsZero() && now.Sub(last) < interval {
		return
	}
	if changed {
		f, err := formula.Parse(ps.rec.AutoScaleFormula)
		a.formula, a.parsed = ps.rec.AutoScaleFormula, f
		if err != nil { // the dispatcher validates formulas: only a foreign write gets here
			log.WarnContext(ctx, "unparsable autoscale formula", "err", err)
		}
	}
	a.lastEval = now
	var run *batch.AutoScaleRun
	var res *formula.Result
	if a.parsed == nil {
		run = &batch.AutoScaleRun{Timestamp: *batch.At(now), Error: &batch.AutoScaleErr{
			Code: formula.CodeSyntaxError, Message: "The specified auto-scaling formula has a syntax error."}}
	} else {
		var err error
		res, err = a.parsed.Eval(&poolEnv{rec: ps.rec, samples: a.samples, now: now})
		run = &batch.AutoScaleRun{Timestamp: *batch.At(now)}
		if res != nil {
			run.Results = res.Results()
		}
		if err != nil {
			run.Error = runError(err)
			res = nil // a failed evaluation changes no target
		}
	}
	s.writeAutoScale(ctx, log, ps, run, res)
}

// takeSample reads the pool consumer's numbers, at most once per
// SamplePeriod, and drops samples older than SampleHistory.
func (s *Scaler) takeSample(ctx context.Context, log *slog.Logger, ps *poolState, now time.Time) {
	a := &ps.auto
	if n := len(a.samples); n > 0 && now.Sub(a.samples[n-1].At) < SamplePeriod {
		return
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var active, running float64
	cons, err := s.js.Consumer(octx, topology.TasksStream, topology.PoolConsumer(ps.account, ps.pool))
	switch {
	case err == nil:
		info := cons.CachedInfo()
		active, running = float64(info.NumPending), float64(info.NumAckPending)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	default:
		log.WarnContext(ctx, "autoscale sample: pool consumer", "err", err)
		return
	}
	c := s.tasks.of(ps.key)
	smp := protocol.PoolSample{At: now.UTC(), Active: active, Running: running, Pending: active + running,
		Dedicated: float64(batch.IntOr(ps.rec.CurrentDedicatedNodes, 0)), LowPriority: float64(batch.IntOr(ps.rec.CurrentLowPriorityNodes, 0)),
		Succeeded: float64(max(c.Tasks.Succeeded, 0)), Failed: float64(max(c.Tasks.Failed, 0)),
		ActiveSlots: float64(max(c.Slots.Active, 0)), RunningSlots: float64(max(c.Slots.Running, 0)),
		PendingSlots: float64(max(c.Slots.Active, 0) + max(c.Slots.Running, 0))}
	if a.rates == nil {
		a.rates = make(map[string]*nodeRates)
	}
	sampleNodes(&smp, ps.nodes, a.rates, now, SamplePeriod, s.cfg.OfflineAfter)
	a.samples = append(a.samples, smp)
	s.publishSample(ctx, log, ps, smp)
	cut := 0
	for cut < len(a.samples) && now.Sub(a.samples[cut].At) > SampleHistory {
		cut++
	}
	a.samples = a.samples[cut:]
}

// writeAutoScale writes an evaluation into the pool record by
// compare-and-set: autoScaleRun always, the targets when res is not nil.
// It touches no other field, and writes nothing if the pool's formula
// changed or autoscale was disabled meanwhile.
func (s *Scaler) writeAutoScale(ctx context.Context, log *slog.Logger, ps *poolState, run *batch.AutoScaleRun, res *formula.Result) {
	p, rev, err := cas(ctx, s.pools, ps.key, func(p *batch.Pool) bool {
		if !autoscaling(p) || p.AutoScaleFormula != ps.auto.formula {
			return false
		}
		p.AutoScaleRun = run
		p.ETag = etag(run.Timestamp.Time)
		if res != nil && (batch.IntOr(p.TargetDedicatedNodes, -1) != res.TargetDedicatedNodes ||
			batch.IntOr(p.TargetLowPriorityNodes, -1) != res.TargetLowPriorityNodes) {
			p.TargetDedicatedNodes = batch.Int(res.TargetDedicatedNodes)
			p.TargetLowPriorityNodes = batch.Int(res.TargetLowPriorityNodes)
			p.LastModified = batch.At(run.Timestamp.Time)
		}
		if res != nil {
			p.NodeDeallocationOption = res.NodeDeallocationOption
		}
		return true
	})
	switch {
	case err != nil:
		log.WarnContext(ctx, "autoscale: write pool; retrying next round", "err", err)
		ps.auto.lastEval = time.Time{}
	case p != nil:
		ps.rec, ps.rev = p, rev
		log.DebugContext(ctx, "autoscale evaluated", "results", run.Results, "error", run.Error != nil)
	}
}

// runError renders an evaluation error as autoScaleRun.error.
func runError(err error) *batch.AutoScaleErr {
	var fe *formula.Error
	if !errors.As(err, &fe) {
		return &batch.AutoScaleErr{Code: formula.CodeEvaluationError, Message: "Autoscale evaluation failed",
			Values: []batch.NameValue{{Name: "Message", Value: err.Error()}}}
	}
	return &batch.AutoScaleErr{Code: fe.Code, Message: fe.Summary(),
		Values: []batch.NameValue{{Name: "Message", Value: fe.Error()}}}
}

// poolEnv is the formula.Env of a pool: its record's current values and
// its sample history.
type poolEnv struct {
	rec     *batch.Pool
	samples []protocol.PoolSample
	now     time.Time
}

func (e *poolEnv) Now() time.Time { return e.now }

func (e *poolEnv) Scalar(name string) (float64, bool) { return PoolScalar(e.rec, name) }

func (e *poolEnv) Samples(name string) ([]formula.Sample, bool) {
	return SampleSeries(e.samples, name, e.now)
}

func (e *poolEnv) Rand() float64 { return rand.Float64() }

// SamplePeriod makes poolEnv a formula.SamplePeriodEnv: the scaler samples
// every SamplePeriod, not every 30 s as Azure does.
func (e *poolEnv) SamplePeriod() time.Duration { return SamplePeriod }

// NewEnv returns the formula.Env of a pool whose record is p and whose
// sample history is samples (oldest first), evaluated at now: what the
// scaler evaluates a pool's formula against, for the dispatcher's
// evaluateautoscale dry run.
func NewEnv(p *batch.Pool, samples []protocol.PoolSample, now time.Time) formula.SamplePeriodEnv {
	return &poolEnv{rec: p, samples: samples, now: now}
}

// PoolScalar is the current value of a service variable that a formula
// reads as a plain value: the pool's current node counts, slots per node
// and targets.
func PoolScalar(p *batch.Pool, name string) (float64, bool) {
	switch name {
	case "$CurrentDedicatedNodes":
		return float64(batch.IntOr(p.CurrentDedicatedNodes, 0)), true
	case "$CurrentLowPriorityNodes":
		return float64(batch.IntOr(p.CurrentLowPriorityNodes, 0)), true
	case "$TaskSlotsPerNode":
		return float64(batch.IntOr(p.TaskSlotsPerNode, 1)), true
	case formula.TargetDedicatedNodes:
		return float64(batch.IntOr(p.TargetDedicatedNodes, 0)), true
	case formula.TargetLowPriorityNodes:
		return float64(batch.IntOr(p.TargetLowPriorityNodes, 0)), true
	}
	return 0, false
}

// SampleSeries is the history of a sampled variable in samples (oldest
// first), up to now; ok is false for a variable that is not sampled.
func SampleSeries(samples []protocol.PoolSample, name string, now time.Time) ([]formula.Sample, bool) {
	if _, ok := (&protocol.PoolSample{}).Value(name); !ok {
		return nil, false
	}
	out := make([]formula.Sample, 0, len(samples))
	for i := range samples {
		if !samples[i].At.After(now) {
			v, _ := samples[i].Value(name)
			out = append(out, formula.Sample{Time: samples[i].At, Value: v})
		}
	}
	return out, true
}
