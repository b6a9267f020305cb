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
	"github.com/natch-io/natch/shared/topology"
)

// Autoscale sampling: one sample per pool per SamplePeriod, kept for
// SampleHistory in memory and in the metrics stream.
const (
	SamplePeriod  = time.Second
	SampleHistory = topology.MetricsMaxAge
)

// sample is one reading of a pool's numbers.
type sample struct {
	at                       time.Time
	active, running, pending float64 // tasks: waiting, delivered, both
	dedicated, lowPriority   float64 // current node counts
	succeeded, failed        float64 // completed tasks of the pool's jobs, by result
	// task slots (requiredSlots summed) of the pool's jobs' active and
	// running tasks, and both
	activeSlots, runningSlots, pendingSlots float64
}

// autoscaleState is a pool's autoscale bookkeeping between rounds.
type autoscaleState struct {
	samples  []sample // oldest first
	formula  string   // the formula last evaluated
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
	if n := len(a.samples); n > 0 && now.Sub(a.samples[n-1].at) < SamplePeriod {
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
	smp := sample{at: now, active: active, running: running, pending: active + running,
		dedicated: float64(batch.IntOr(ps.rec.CurrentDedicatedNodes, 0)), lowPriority: float64(batch.IntOr(ps.rec.CurrentLowPriorityNodes, 0)),
		succeeded: float64(max(c.Tasks.Succeeded, 0)), failed: float64(max(c.Tasks.Failed, 0)),
		activeSlots: float64(max(c.Slots.Active, 0)), runningSlots: float64(max(c.Slots.Running, 0)),
		pendingSlots: float64(max(c.Slots.Active, 0) + max(c.Slots.Running, 0))}
	a.samples = append(a.samples, smp)
	s.publishSample(ctx, log, ps, smp)
	cut := 0
	for cut < len(a.samples) && now.Sub(a.samples[cut].at) > SampleHistory {
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
	samples []sample
	now     time.Time
}

func (e *poolEnv) Now() time.Time { return e.now }

func (e *poolEnv) Scalar(name string) (float64, bool) {
	switch name {
	case "$CurrentDedicatedNodes":
		return float64(batch.IntOr(e.rec.CurrentDedicatedNodes, 0)), true
	case "$CurrentLowPriorityNodes":
		return float64(batch.IntOr(e.rec.CurrentLowPriorityNodes, 0)), true
	case "$TaskSlotsPerNode":
		return float64(batch.IntOr(e.rec.TaskSlotsPerNode, 1)), true
	case formula.TargetDedicatedNodes:
		return float64(batch.IntOr(e.rec.TargetDedicatedNodes, 0)), true
	case formula.TargetLowPriorityNodes:
		return float64(batch.IntOr(e.rec.TargetLowPriorityNodes, 0)), true
	}
	return 0, false
}

func (e *poolEnv) Samples(name string) ([]formula.Sample, bool) {
	var pick func(sample) float64
	switch name {
	case "$ActiveTasks":
		pick = func(s sample) float64 { return s.active }
	case "$RunningTasks":
		pick = func(s sample) float64 { return s.running }
	case "$PendingTasks":
		pick = func(s sample) float64 { return s.pending }
	case "$CurrentDedicatedNodes":
		pick = func(s sample) float64 { return s.dedicated }
	case "$CurrentLowPriorityNodes":
		pick = func(s sample) float64 { return s.lowPriority }
	case "$SucceededTasks":
		pick = func(s sample) float64 { return s.succeeded }
	case "$FailedTasks":
		pick = func(s sample) float64 { return s.failed }
	case "$ActiveTaskSlots":
		pick = func(s sample) float64 { return s.activeSlots }
	case "$RunningTaskSlots":
		pick = func(s sample) float64 { return s.runningSlots }
	case "$PendingTaskSlots":
		pick = func(s sample) float64 { return s.pendingSlots }
	default:
		return nil, false
	}
	out := make([]formula.Sample, 0, len(e.samples))
	for _, s := range e.samples {
		if !s.at.After(e.now) {
			out = append(out, formula.Sample{Time: s.at, Value: pick(s)})
		}
	}
	return out, true
}

func (e *poolEnv) Rand() float64 { return rand.Float64() }

// SamplePeriod makes poolEnv a formula.SamplePeriodEnv: the scaler samples
// every SamplePeriod, not every 30 s as Azure does.
func (e *poolEnv) SamplePeriod() time.Duration { return SamplePeriod }
