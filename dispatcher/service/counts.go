package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
)

// counter aggregates task count changes in memory and writes them to the
// counts bucket every CountsFlush, one compare-and-set per job per flush, so
// that 20,000 tasks a second do not contend on one key. Counts are therefore
// eventually consistent (Azure's are too); Reconcile recounts after a crash.
type counter struct {
	s       *Service
	mu      sync.Mutex
	pending map[string]state.Counts // counts key (account.job) → delta
	recheck map[string]bool         // jobs to look at again even without a delta
	kick    chan struct{}
}

func newCounter(s *Service) *counter {
	return &counter{s: s, pending: map[string]state.Counts{}, recheck: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// add records a change of a job's counts.
func (c *counter) add(countsKey string, d state.Counts) {
	if d.IsZero() {
		return
	}
	c.mu.Lock()
	p := c.pending[countsKey]
	p.Add(d)
	c.pending[countsKey] = p
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *counter) run(ctx context.Context) error {
	t := time.NewTicker(c.s.cfg.CountsFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			c.flush(fctx)
			cancel()
			return nil
		case <-t.C:
			c.flush(ctx)
		}
	}
}

// again asks the next flush to look at a job's counts once more (its
// completion was in doubt).
func (c *counter) again(countsKey string) {
	c.mu.Lock()
	c.recheck[countsKey] = true
	c.mu.Unlock()
}

func (c *counter) flush(ctx context.Context) {
	c.mu.Lock()
	if len(c.pending) == 0 && len(c.recheck) == 0 {
		c.mu.Unlock()
		return
	}
	batchOf, recheck := c.pending, c.recheck
	c.pending, c.recheck = map[string]state.Counts{}, map[string]bool{}
	c.mu.Unlock()
	for key := range recheck {
		if _, ok := batchOf[key]; ok {
			continue // looked at below
		}
		cur, _, err := c.s.st.Counts.Get(ctx, key)
		if err == nil && cur.Total > 0 && cur.Tasks.Active <= 0 && cur.Tasks.Running <= 0 {
			c.s.allTasksComplete(ctx, key)
		}
	}
	for key, d := range batchOf {
		after, _, err := c.s.st.Counts.Update(ctx, key, func(v *state.Counts) error {
			v.Add(d)
			return nil
		})
		if errors.Is(err, batch.ErrJobNotFound) {
			continue // the job is gone
		}
		if err != nil {
			c.s.log.ErrorContext(ctx, "write task counts", "key", key, "err", err)
			c.add(key, d) // keep the delta for the next flush
			continue
		}
		if after.Total > 0 && after.Tasks.Active <= 0 && after.Tasks.Running <= 0 {
			c.s.allTasksComplete(ctx, key)
		}
	}
}
