package service

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/scaler/formula"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// Autoscale evaluation intervals. Azure's floor is 5 minutes; natch
// evaluates as often as every second.
const (
	MinAutoScaleInterval     = time.Second
	MaxAutoScaleInterval     = 168 * time.Hour
	DefaultAutoScaleInterval = 15 * time.Minute
)

// parseFormula parses an autoscale formula, turning its errors into the
// 400 API error Azure answers (AutoScalingFormulaSyntaxError or
// AutoScaleFormulaTooLong, with the line, column and cause as values).
func parseFormula(src string) (*formula.Formula, error) {
	if src == "" {
		return nil, batch.MissingProperty("autoScaleFormula")
	}
	f, err := formula.Parse(src)
	if err == nil {
		return f, nil
	}
	var fe *formula.Error
	if !errors.As(err, &fe) {
		return nil, err
	}
	be := &batch.Error{Status: 400, Code: fe.Code, Message: fe.Summary(), Err: err}
	if fe.Line > 0 {
		be = be.With("Line", strconv.Itoa(fe.Line)).With("Column", strconv.Itoa(fe.Col))
	}
	return nil, be.With("Message", fe.Error())
}

// validInterval checks an autoScaleEvaluationInterval.
func validInterval(d *batch.Duration) error {
	if d == nil {
		return nil
	}
	if d.Std() < MinAutoScaleInterval || d.Std() > MaxAutoScaleInterval {
		return batch.InvalidProperty("autoScaleEvaluationInterval", "must be between 1 second and 168 hours")
	}
	return nil
}

// validateAutoScalePool checks the autoscale settings of a pool to add and
// fills the default interval.
func validateAutoScalePool(p *batch.Pool) error {
	if p.EnableAutoScale == nil || !*p.EnableAutoScale {
		return nil
	}
	if _, err := parseFormula(p.AutoScaleFormula); err != nil {
		return err
	}
	if err := validInterval(p.AutoScaleEvaluationInterval); err != nil {
		return err
	}
	if p.AutoScaleEvaluationInterval == nil {
		p.AutoScaleEvaluationInterval = batch.D(DefaultAutoScaleInterval)
	}
	return nil
}

// EnableAutoScale turns autoscale on for a pool, or changes its formula or
// interval. An empty formula keeps the pool's current one; the targets are
// kept until the scaler's first evaluation replaces them.
func (s *Service) EnableAutoScale(ctx context.Context, account, id string, body *batch.PoolEnableAutoScale, cond Condition) (*batch.Pool, error) {
	if err := batch.ValidID("poolId", id); err != nil {
		return nil, batch.ErrPoolNotFound
	}
	if body.AutoScaleFormula != "" {
		if _, err := parseFormula(body.AutoScaleFormula); err != nil {
			return nil, err
		}
	}
	if err := validInterval(body.AutoScaleEvaluationInterval); err != nil {
		return nil, err
	}
	p, _, err := s.st.Pools.Update(ctx, topology.PoolKey(account, batch.Key(id)), func(p *batch.Pool) error {
		if err := cond.Check(p.ETag, p.LastModified); err != nil {
			return err
		}
		if p.State == batch.PoolDeleting {
			return batch.Errorf(409, "PoolBeingDeleted", "The specified pool is being deleted.")
		}
		f := body.AutoScaleFormula
		if f == "" {
			f = p.AutoScaleFormula
		}
		if f == "" {
			return batch.MissingProperty("autoScaleFormula")
		}
		interval := body.AutoScaleEvaluationInterval
		if interval == nil {
			interval = p.AutoScaleEvaluationInterval
		}
		if interval == nil {
			interval = batch.D(DefaultAutoScaleInterval)
		}
		p.ETag, p.LastModified = s.st.Stamp()
		p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = batch.Bool(true), f, interval
		return nil
	})
	return p, wrap("enable autoscale", err)
}

// DisableAutoScale turns autoscale off for a pool. The targets stay as the
// last evaluation left them.
func (s *Service) DisableAutoScale(ctx context.Context, account, id string, cond Condition) (*batch.Pool, error) {
	if err := batch.ValidID("poolId", id); err != nil {
		return nil, batch.ErrPoolNotFound
	}
	p, _, err := s.st.Pools.Update(ctx, topology.PoolKey(account, batch.Key(id)), func(p *batch.Pool) error {
		if err := cond.Check(p.ETag, p.LastModified); err != nil {
			return err
		}
		if p.State == batch.PoolDeleting {
			return batch.Errorf(409, "PoolBeingDeleted", "The specified pool is being deleted.")
		}
		if p.EnableAutoScale == nil || !*p.EnableAutoScale {
			return state.ErrStop
		}
		p.ETag, p.LastModified = s.st.Stamp()
		p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = batch.Bool(false), "", nil
		p.TargetDedicatedNodes = batch.Int(batch.IntOr(p.TargetDedicatedNodes, 0))
		p.TargetLowPriorityNodes = batch.Int(batch.IntOr(p.TargetLowPriorityNodes, 0))
		return nil
	})
	return p, wrap("disable autoscale", err)
}

// EvaluateAutoScale evaluates a formula against the pool's sample history
// without changing anything: the samples the scaler took in the last
// scaler.SampleHistory, read from the metrics stream, so that a formula's
// look-back windows see what the scaler's evaluation would. A pool without
// history yet (autoscale just enabled, or the scaler not running) is
// evaluated against one sample of its numbers now. A formula that does
// not parse is a 400; an evaluation error is reported in the run, as
// Azure does.
func (s *Service) EvaluateAutoScale(ctx context.Context, account, id string, body *batch.PoolEvaluateAutoScale) (*batch.AutoScaleRun, error) {
	p, err := s.GetPool(ctx, account, id)
	if err != nil {
		return nil, err
	}
	f, err := parseFormula(body.AutoScaleFormula)
	if err != nil {
		return nil, err
	}
	now := s.st.Now()
	poolKey := batch.Key(p.ID)
	samples, err := scaler.ReadSamples(ctx, s.js, account, poolKey, now.Add(-scaler.SampleHistory), now)
	if err != nil {
		s.log.WarnContext(ctx, "evaluate autoscale: read sample history; using a live sample", "pool", p.ID, "err", err)
		samples = nil
	}
	if len(samples) == 0 {
		live, err := s.liveSample(ctx, account, p, now)
		if err != nil {
			return nil, wrap("evaluate autoscale", err)
		}
		samples = []protocol.PoolSample{live}
	}
	return autoScaleRun(f, scaler.NewEnv(p, samples, now), now), nil
}

// liveSample is one sample of the pool's numbers now, as the scaler takes
// them: the pool consumer's depth, the node counts, the task counts of the
// pool's jobs and its nodes' latest metrics.
func (s *Service) liveSample(ctx context.Context, account string, p *batch.Pool, now time.Time) (protocol.PoolSample, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	poolKey := batch.Key(p.ID)
	cons, err := s.js.Consumer(cctx, topology.TasksStream, topology.PoolConsumer(account, poolKey))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return protocol.PoolSample{}, err
	}
	var active, running float64
	if cons != nil {
		info := cons.CachedInfo()
		active, running = float64(info.NumPending), float64(info.NumAckPending)
	}
	c, err := s.poolCounts(cctx, account, poolKey)
	if err != nil {
		return protocol.PoolSample{}, err
	}
	es, err := s.st.Nodes.List(cctx, topology.PoolNodeKeys(account, poolKey))
	if err != nil {
		return protocol.PoolSample{}, err
	}
	nodes := make([]protocol.NodeRecord, len(es))
	for i, e := range es {
		nodes[i] = *e.Value
	}
	smp := protocol.PoolSample{At: now, Active: active, Running: running, Pending: active + running,
		Dedicated: float64(batch.IntOr(p.CurrentDedicatedNodes, 0)), LowPriority: float64(batch.IntOr(p.CurrentLowPriorityNodes, 0)),
		Succeeded: float64(max(c.Tasks.Succeeded, 0)), Failed: float64(max(c.Tasks.Failed, 0)),
		ActiveSlots: float64(max(c.Slots.Active, 0)), RunningSlots: float64(max(c.Slots.Running, 0)),
		PendingSlots: float64(max(c.Slots.Active, 0) + max(c.Slots.Running, 0))}
	scaler.FillNodeSample(&smp, nodes, now, liveMetricsFresh)
	return smp, nil
}

// liveMetricsFresh is how old a node's metrics may be to count in a live
// sample: the scaler's default OfflineAfter.
const liveMetricsFresh = 10 * time.Second

// poolCounts sums the task counts of the account's jobs that run on the
// pool, as the scaler's samples of $SucceededTasks, $FailedTasks and the
// slot variables do. It reads every job record of the account: fine for a
// dry run, which is rare (the scaler keeps these sums from watches).
func (s *Service) poolCounts(ctx context.Context, account, poolKey string) (state.Counts, error) {
	var jobs []string
	err := s.st.Jobs.Scan(ctx, account+".*", 0, func(e state.Entry[state.JobRecord]) bool {
		if e.Value.PoolKey == poolKey {
			jobs = append(jobs, e.Key)
		}
		return true
	})
	var sum state.Counts
	if err != nil {
		return sum, err
	}
	for _, key := range jobs {
		c, _, err := s.st.Counts.Get(ctx, key)
		if errors.Is(err, batch.ErrJobNotFound) {
			continue
		}
		if err != nil {
			return sum, err
		}
		sum.Add(*c)
	}
	return sum, nil
}

// autoScaleRun evaluates f against env and renders the outcome as Azure's
// autoScaleRun: the results, and the evaluation error if there was one.
func autoScaleRun(f *formula.Formula, env formula.Env, now time.Time) *batch.AutoScaleRun {
	res, err := f.Eval(env)
	run := &batch.AutoScaleRun{Timestamp: *batch.At(now)}
	if res != nil {
		run.Results = res.Results()
	}
	if err != nil {
		run.Error = runError(err)
	}
	return run
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
