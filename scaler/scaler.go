package scaler

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// Config configures a Scaler.
type Config struct {
	// Provider starts and stops nodes. Required.
	Provider Provider
	// Interval is how often every pool is reconciled; pool changes are
	// acted on at once. Defaults to 1s.
	Interval time.Duration
	// OfflineAfter is how long a node may go without a heartbeat before it is
	// marked offline. Defaults to 10s.
	OfflineAfter time.Duration
	// OfflineRetention is how long an offline node's record stays visible.
	// Defaults to 5m.
	OfflineRetention time.Duration
	// StartTimeout is how long a started node has to register before it is
	// considered failed and replaced. Defaults to 60s.
	StartTimeout time.Duration
	// LeaseTTL is how long an account's scaler lease outlives its holder.
	// Defaults to the larger of 15s and 5 × Interval.
	LeaseTTL time.Duration
	// MaxStartBackoff caps the wait between failed starts of a pool's nodes
	// (it doubles from Interval on every failure). Defaults to 1m.
	MaxStartBackoff time.Duration
	// Holder names this scaler in the leases bucket. A scaler restarted with
	// the same Holder takes its leases back at once instead of waiting for
	// them to expire, so give each scaler its own stable name (say host and
	// data directory), or leave it empty. Defaults to "scaler-<random>".
	Holder string
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Interval = cmp.Or(c.Interval, time.Second)
	c.OfflineAfter = cmp.Or(c.OfflineAfter, 10*time.Second)
	c.OfflineRetention = cmp.Or(c.OfflineRetention, 5*time.Minute)
	c.StartTimeout = cmp.Or(c.StartTimeout, 60*time.Second)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, max(15*time.Second, 5*c.Interval))
	c.MaxStartBackoff = cmp.Or(c.MaxStartBackoff, time.Minute)
	c.Holder = cmp.Or(c.Holder, "scaler-"+randomHex(6))
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Provider == nil:
		return errors.New("scaler: Provider is required")
	case c.Interval < 0, c.OfflineAfter < 0, c.OfflineRetention < 0, c.StartTimeout < 0, c.MaxStartBackoff < 0:
		return errors.New("scaler: durations must not be negative")
	case c.LeaseTTL < 3*c.Interval:
		return fmt.Errorf("scaler: LeaseTTL %s must be at least 3 × Interval %s", c.LeaseTTL, c.Interval)
	}
	return nil
}

// opTimeout bounds every JetStream call the scaler makes.
const opTimeout = 5 * time.Second

// Scaler keeps every pool's nodes at the pool's targets. See the package
// documentation.
type Scaler struct {
	cfg    Config
	js     jetstream.JetStream
	prov   Provider
	log    *slog.Logger
	policy Policy

	pools  jetstream.KeyValue
	nodes  jetstream.KeyValue
	jobs   jetstream.KeyValue // for each job's pool
	counts jetstream.KeyValue // each job's task counts
	tasks  *taskCounts        // the counts summed by pool
	leases *leases
	state  map[string]*poolState    // by pool bucket key "account.pool"
	acks   []jetstream.PubAckFuture // sample publishes not yet checked
}

// poolState is what the scaler knows of one pool between rounds.
type poolState struct {
	key, account, pool string // pool bucket key and its parts
	rec                *batch.Pool
	rev                uint64
	nodes              map[string]nodeEntry   // registered nodes, by node key
	pending            map[string]pendingNode // started, unregistered nodes, by node id
	failures           int                    // failed starts in a row
	nextStart          time.Time              // no start before this (backoff)
	fresh              []string               // node keys registered since the last round
	auto               autoscaleState         // samples and last evaluation, for autoscale pools
}

type nodeEntry struct {
	rec protocol.NodeRecord
	rev uint64
}

type pendingNode struct {
	dedicated bool
	started   time.Time
	stopping  bool // cancelled or failed: forgotten once gone
}

// New returns a Scaler. It does no I/O.
func New(js jetstream.JetStream, cfg Config) (*Scaler, error) {
	if js == nil {
		return nil, errors.New("scaler: nil JetStream")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Scaler{
		cfg:    cfg,
		js:     js,
		prov:   cfg.Provider,
		log:    cfg.Logger.With("component", "scaler"),
		policy: Policy{OfflineAfter: cfg.OfflineAfter, OfflineRetention: cfg.OfflineRetention, StartTimeout: cfg.StartTimeout},
		state:  make(map[string]*poolState),
		tasks:  newTaskCounts(),
	}, nil
}

// Run reconciles pools until ctx is cancelled, then releases its leases and
// returns nil. It waits for the pools and nodes buckets to exist (the
// dispatcher creates them). Run does not stop the nodes it started: their
// provider's owner closes the provider after Run returns.
func (s *Scaler) Run(ctx context.Context) error {
	if err := s.open(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		defer cancel()
		s.leases.release(rctx)
	}()

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	pw, err := s.pools.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("scaler: watch pools: %w", err)
	}
	defer func() { _ = pw.Stop() }()
	nw, err := s.nodes.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("scaler: watch nodes: %w", err)
	}
	defer func() { _ = nw.Stop() }()
	jw, err := s.jobs.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("scaler: watch jobs: %w", err)
	}
	defer func() { _ = jw.Stop() }()
	cw, err := s.counts.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("scaler: watch task counts: %w", err)
	}
	defer func() { _ = cw.Stop() }()

	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	poolsReady, nodesReady := false, false
	s.log.InfoContext(ctx, "scaler running", "holder", s.cfg.Holder, "interval", s.cfg.Interval)
	for {
		var touched string // pool to reconcile at once
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-pw.Updates():
			if !ok {
				return s.watchClosed(ctx, "pools")
			}
			if e == nil {
				poolsReady = true
				touched = "*"
				break
			}
			touched = s.applyPool(e)
		case e, ok := <-nw.Updates():
			if !ok {
				return s.watchClosed(ctx, "nodes")
			}
			if e == nil {
				nodesReady = true
				touched = "*"
				break
			}
			touched = s.applyNode(e)
		case e, ok := <-jw.Updates():
			if !ok {
				return s.watchClosed(ctx, "jobs")
			}
			if e != nil {
				s.tasks.applyJob(e)
			}
		case e, ok := <-cw.Updates():
			if !ok {
				return s.watchClosed(ctx, "counts")
			}
			if e != nil {
				s.tasks.applyCounts(e)
			}
		case <-tick.C:
			touched = "*"
		}
		if !poolsReady || !nodesReady || touched == "" {
			continue // never decide on a half-loaded view
		}
		if touched == "*" {
			for _, ps := range s.state {
				s.reconcile(ctx, ps)
			}
			continue
		}
		if ps := s.state[touched]; ps != nil {
			s.reconcile(ctx, ps)
		}
	}
}

// watchClosed is Run's result when a watcher's channel closes: nil on
// shutdown, an error otherwise.
func (s *Scaler) watchClosed(ctx context.Context, bucket string) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("scaler: %s watcher closed", bucket)
}

// open binds the buckets, waiting for the pools and nodes buckets to exist
// (and riding out NATS being unreachable).
func (s *Scaler) open(ctx context.Context) error {
	wait := s.cfg.Interval
	for {
		err := s.bind(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			s.log.InfoContext(ctx, "waiting for natch's buckets", "err", err)
		} else if ctx.Err() == nil {
			s.log.WarnContext(ctx, "open buckets", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (s *Scaler) bind(ctx context.Context) error {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var err error
	if s.pools, err = s.js.KeyValue(octx, topology.PoolsBucket); err != nil {
		return fmt.Errorf("scaler: pools bucket: %w", err)
	}
	if s.nodes, err = s.js.KeyValue(octx, topology.NodesBucket); err != nil {
		return fmt.Errorf("scaler: nodes bucket: %w", err)
	}
	if s.jobs, err = s.js.KeyValue(octx, topology.JobsBucket); err != nil {
		return fmt.Errorf("scaler: jobs bucket: %w", err)
	}
	if s.counts, err = s.js.KeyValue(octx, topology.CountsBucket); err != nil {
		return fmt.Errorf("scaler: counts bucket: %w", err)
	}
	l, err := openLeases(octx, s.js, s.pools, s.cfg, s.log)
	if err != nil {
		return err
	}
	s.leases = l
	return nil
}

// poolFor returns the state of a pool, creating it.
func (s *Scaler) poolFor(account, pool string) *poolState {
	key := topology.PoolKey(account, pool)
	ps := s.state[key]
	if ps == nil {
		ps = &poolState{key: key, account: account, pool: pool,
			nodes: make(map[string]nodeEntry), pending: make(map[string]pendingNode)}
		s.state[key] = ps
	}
	return ps
}

// applyPool folds a pools bucket change into the view and returns the
// pool's key.
func (s *Scaler) applyPool(e jetstream.KeyValueEntry) string {
	account, pool, ok := strings.Cut(e.Key(), ".")
	if !ok || strings.Contains(pool, ".") {
		return ""
	}
	ps := s.poolFor(account, pool)
	if e.Operation() != jetstream.KeyValuePut {
		ps.rec, ps.rev = nil, e.Revision()
		return ps.key
	}
	var p batch.Pool
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		s.log.Warn("unreadable pool record", "key", e.Key(), "err", err)
		return ""
	}
	ps.rec, ps.rev = &p, e.Revision()
	return ps.key
}

// applyNode folds a nodes bucket change into the view. It returns the
// pool's key when the change matters now (a node came, went or changed
// state), "" for a heartbeat.
func (s *Scaler) applyNode(e jetstream.KeyValueEntry) string {
	parts := strings.Split(e.Key(), ".")
	if len(parts) != 3 {
		return ""
	}
	ps := s.poolFor(parts[0], parts[1])
	old, had := ps.nodes[parts[2]]
	if had && e.Revision() <= old.rev {
		return ""
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(ps.nodes, parts[2])
		return ps.key
	}
	var r protocol.NodeRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		s.log.Warn("unreadable node record", "key", e.Key(), "err", err)
		return ""
	}
	if r.ID == "" {
		r.ID = parts[2]
	}
	if r.Heartbeat.IsZero() {
		r.Heartbeat = e.Created() // no heartbeat yet: the record's write time
	}
	ps.nodes[parts[2]] = nodeEntry{rec: r, rev: e.Revision()}
	if autoscaling(ps.rec) {
		ps.auto.observe(parts[2], r.Metrics)
	}
	if !had {
		ps.fresh = append(ps.fresh, parts[2])
	}
	if had && old.rec.State == r.State {
		return ""
	}
	return ps.key
}

// reconcile runs one round for a pool: decide, then act.
func (s *Scaler) reconcile(ctx context.Context, ps *poolState) {
	now := s.cfg.Now()
	if !s.leases.hold(ctx, ps.account, now) {
		ps.fresh = nil // another scaler's pool: nothing of ours to adopt
		return
	}
	log := s.log.With("account", ps.account, "pool", ps.pool)
	s.autoscale(ctx, log, ps, now)
	s.adopt(ctx, log, ps)
	nodes := s.nodeViews(ps)
	if ps.rec == nil && len(nodes) == 0 {
		delete(s.state, ps.key)
		return
	}
	plan := Decide(ps.rec, nodes, s.policy, now)
	if s.choosesLeavers(ps, plan) {
		if !s.refreshNodes(ctx, log, ps) {
			return // the next round decides
		}
		// removeNodes marks the nodes it names before it lowers the
		// target, but the two reach this scaler through different
		// watchers: a lower target seen first would make it pick a node
		// of its own as well. Its choice stands only on fresh records.
		nodes = s.nodeViews(ps)
		plan = Decide(ps.rec, nodes, s.policy, now)
	}

	for _, id := range plan.Failed {
		log.WarnContext(ctx, "node failed to start: it exited or did not register in time",
			"node_id", id, "start_timeout", s.cfg.StartTimeout)
		s.stopPending(ctx, log, ps, id)
		s.startFailed(ps, now)
	}
	for _, id := range plan.Cancel {
		log.InfoContext(ctx, "cancelling node start", "node_id", id)
		s.stopPending(ctx, log, ps, id)
	}
	for _, id := range plan.Forget {
		delete(ps.pending, id)
	}
	for _, id := range plan.MarkOffline {
		s.markNode(ctx, log, ps, id, batch.NodeOffline)
	}
	for _, id := range plan.MarkPreempted {
		s.markNode(ctx, log, ps, id, batch.NodePreempted)
	}
	for _, id := range plan.Preempt {
		s.preempt(ctx, log, id)
	}
	for _, id := range plan.Leave {
		if s.drain(ctx, log, ps, id) {
			continue // it leaves once its tasks are dealt with
		}
		s.markNode(ctx, log, ps, id, batch.NodeLeaving)
		s.stop(ctx, log, id)
	}
	for _, id := range plan.Stop {
		s.stop(ctx, log, id)
	}
	for _, id := range plan.Delete {
		s.deleteNode(ctx, log, ps, id)
	}
	if !now.Before(ps.nextStart) {
		s.startNodes(ctx, log, ps, plan.StartDedicated, true, now)
		s.startNodes(ctx, log, ps, plan.StartLowPriority, false, now)
	}
	if ps.rec == nil {
		return
	}
	if plan.DeletePool {
		s.deletePool(ctx, log, ps)
		return
	}
	s.updatePool(ctx, log, ps, plan)
}

// nodeViews is what Decide knows of a pool's nodes: the registered ones
// (a registered node is no longer a pending start) and the pending starts.
func (s *Scaler) nodeViews(ps *poolState) []Node {
	nodes := make([]Node, 0, len(ps.nodes)+len(ps.pending))
	for _, e := range ps.nodes {
		if p, ok := ps.pending[e.rec.ID]; ok { // registered
			delete(ps.pending, e.rec.ID)
			if !p.stopping {
				ps.failures, ps.nextStart = 0, time.Time{}
			}
		}
		nodes = append(nodes, Node{ID: e.rec.ID, Record: &e.rec, Alive: s.prov.Alive(e.rec.ID), Preempted: s.preempted(e.rec.ID)})
	}
	for id, p := range ps.pending {
		nodes = append(nodes, Node{ID: id, Dedicated: p.dedicated, StartedAt: p.started, Stopping: p.stopping,
			Alive: s.prov.Alive(id)})
	}
	return nodes
}

// choosesLeavers reports whether a plan sends away a node that no
// removeNodes named: a scale-in choice of the scaler's own.
func (s *Scaler) choosesLeavers(ps *poolState, plan Plan) bool {
	for _, id := range plan.Leave {
		if e, ok := ps.nodes[batch.Key(id)]; ok && e.rec.RemoveOption == "" {
			return true
		}
	}
	return false
}

// refreshNodes reads a pool's known node records from the bucket, so that
// a change not yet delivered by the watcher counts. It reports whether it
// read them all.
func (s *Scaler) refreshNodes(ctx context.Context, log *slog.Logger, ps *poolState) bool {
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for id := range ps.nodes {
		e, err := s.nodes.Get(rctx, topology.NodeKey(ps.account, ps.pool, id))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			delete(ps.nodes, id)
		case err != nil:
			log.WarnContext(ctx, "read node record", "node_id", id, "err", err)
			return false
		default:
			s.applyNode(e)
		}
	}
	return true
}

// adopt matches the nodes registered since the last round with the pool's
// unregistered starts when the provider names its nodes itself (an
// Adopter): each such node takes the place of the oldest start of its kind
// that the provider accepts.
func (s *Scaler) adopt(ctx context.Context, log *slog.Logger, ps *poolState) {
	fresh := ps.fresh
	ps.fresh = nil
	a, ok := s.prov.(Adopter)
	if !ok {
		return
	}
	for _, key := range fresh {
		e, ok := ps.nodes[key]
		if !ok || e.rec.State == batch.NodeLeaving || e.rec.State == batch.NodeOffline {
			continue
		}
		if _, ok := ps.pending[e.rec.ID]; ok {
			continue // registered under the id it was started with
		}
		ids := make([]string, 0, len(ps.pending))
		for id, p := range ps.pending {
			if !p.stopping && p.dedicated == e.rec.IsDedicated {
				ids = append(ids, id)
			}
		}
		slices.SortFunc(ids, func(x, y string) int {
			return cmp.Or(ps.pending[x].started.Compare(ps.pending[y].started), cmp.Compare(x, y))
		})
		for _, id := range ids {
			if a.Adopt(id, e.rec.ID) {
				log.InfoContext(ctx, "node registered for a start", "node_id", e.rec.ID, "start_id", id)
				delete(ps.pending, id)
				ps.failures, ps.nextStart = 0, time.Time{}
				break
			}
		}
	}
}

// startFailed counts a failed start and puts off the pool's next start:
// Interval, doubling on every failure in a row, up to MaxStartBackoff.
func (s *Scaler) startFailed(ps *poolState, now time.Time) {
	ps.failures++
	ps.nextStart = now.Add(min(s.cfg.Interval<<min(ps.failures-1, 16), s.cfg.MaxStartBackoff))
}

func (s *Scaler) startNodes(ctx context.Context, log *slog.Logger, ps *poolState, n int, dedicated bool, now time.Time) {
	if ps.rec == nil {
		return
	}
	for range n {
		spec := NodeSpec{
			Account:   ps.account,
			PoolID:    cmp.Or(ps.rec.ID, ps.pool),
			NodeID:    newNodeID(dedicated),
			Dedicated: dedicated,
			VMSize:    ps.rec.VMSize,
			Slots:     max(batch.IntOr(ps.rec.TaskSlotsPerNode, 1), 1),
		}
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		err := s.prov.Start(octx, spec)
		cancel()
		if err != nil {
			log.ErrorContext(ctx, "start node", "node_id", spec.NodeID, "err", err)
			s.startFailed(ps, now)
			return
		}
		log.InfoContext(ctx, "node started", "node_id", spec.NodeID, "dedicated", dedicated)
		ps.pending[spec.NodeID] = pendingNode{dedicated: dedicated, started: now}
	}
}

// stopPending stops an unregistered node; it stays in the view until its
// process is gone.
func (s *Scaler) stopPending(ctx context.Context, log *slog.Logger, ps *poolState, id string) {
	s.stop(ctx, log, id)
	p := ps.pending[id]
	p.stopping = true
	ps.pending[id] = p
}

// preempted reports whether the provider says the node was evicted.
func (s *Scaler) preempted(id string) bool {
	pp, ok := s.prov.(Preempter)
	return ok && pp.Preempted(id)
}

// preempt evicts a preempted node's process at once, or stops it when the
// provider cannot preempt.
func (s *Scaler) preempt(ctx context.Context, log *slog.Logger, id string) {
	pp, ok := s.prov.(Preempter)
	if !ok {
		s.stop(ctx, log, id)
		return
	}
	log.InfoContext(ctx, "preempting node", "node_id", id)
	if err := pp.Preempt(id); err != nil {
		log.ErrorContext(ctx, "preempt node", "node_id", id, "err", err)
	}
}

func (s *Scaler) stop(ctx context.Context, log *slog.Logger, id string) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.prov.Stop(octx, id); err != nil {
		log.ErrorContext(ctx, "stop node", "node_id", id, "err", err)
	}
}

// newNodeID returns a fresh node id in Azure's style:
// tvmps_<24 hex>_d for a dedicated node, _p for a low-priority one.
func newNodeID(dedicated bool) string {
	suffix := "_p"
	if dedicated {
		suffix = "_d"
	}
	return "tvmps_" + randomHex(12) + suffix
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
