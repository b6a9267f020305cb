package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// recordMinInterval spaces prompt (state change) writes of the node record,
// so that a stream of short tasks does not turn into a stream of KV writes.
const recordMinInterval = 50 * time.Millisecond

// recordState is what the record writer knows of the stored node record.
type recordState struct {
	rev  uint64
	base protocol.NodeRecord // the record as last stored
}

// register creates or takes over the node record, in state "starting".
// It fails with ErrNodeRemoved if the record says leavingpool.
func (w *Worker) register(ctx context.Context) error {
	for range 10 {
		entry, err := w.nodes.Get(ctx, w.recordKey)
		var base protocol.NodeRecord
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("read node record: %w", err)
		default:
			if err := json.Unmarshal(entry.Value(), &base); err != nil {
				w.log.WarnContext(ctx, "overwriting an undecodable node record", "err", err)
				base = protocol.NodeRecord{}
			}
			if base.State == batch.NodeLeaving {
				return ErrNodeRemoved
			}
		}
		w.initLifecycle(base)
		now := time.Now()
		base.AllocationTime = nil // a new agent: allocation and boot are now
		rec := w.snapshot(base, batch.NodeStarting, now)
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		var rev uint64
		if entry == nil {
			rev, err = w.nodes.Create(ctx, w.recordKey, data)
		} else {
			rev, err = w.nodes.Update(ctx, w.recordKey, data, entry.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write node record: %w", err)
		}
		w.rec = recordState{rev: rev, base: rec}
		return nil
	}
	return errors.New("write node record: too many concurrent changes")
}

// snapshot builds the node record from base (the stored record, whose
// fields the worker does not own are kept) and the worker's current state.
// An empty state means idle or running, from the running tasks.
func (w *Worker) snapshot(base protocol.NodeRecord, state string, now time.Time) protocol.NodeRecord {
	w.mu.Lock()
	running, runningSlots := w.running, w.runningSlots
	totalRun, totalSucceeded := w.totalRun, w.totalSucceeded
	var names []string
	for t := range w.held {
		if t.running {
			names = append(names, t.name())
		}
	}
	w.mu.Unlock()
	slices.Sort(names)
	startTask, startInfo, startNodeState := w.start.record()
	state = w.nodeState(state)
	if state == "" {
		state = startNodeState
	}
	if state == "" {
		state = batch.NodeIdle
		if running > 0 {
			state = batch.NodeRunning
		}
	}
	r := base
	if r.State != state || r.StateTransitionTime == nil {
		r.StateTransitionTime = batch.At(now)
	}
	r.ID = w.cfg.NodeID
	if w.cfg.AccountURL != "" {
		r.URL = w.cfg.AccountURL + "/pools/" + w.poolID + "/nodes/" + w.cfg.NodeID
	}
	r.State = state
	r.SchedulingState = w.life.schedulingState()
	boot := w.life.boot(w.bootTime)
	r.LastBootTime = batch.At(boot)
	if r.AllocationTime == nil {
		r.AllocationTime = batch.At(w.bootTime)
	}
	r.IPAddress = w.ipAddress
	r.AffinityID = "TVM:" + w.cfg.NodeID
	r.VMSize = w.vmSize
	r.IsDedicated = !w.cfg.LowPriority
	r.NodeAgentInfo = &batch.NodeAgentInformation{Version: w.version, LastUpdateTime: batch.Time{Time: boot.UTC()}}
	r.TotalTasksRun = totalRun
	r.TotalTasksSucceeded = totalSucceeded
	r.RunningTasksCount = running
	r.RunningTaskSlotsCount = runningSlots
	r.Account = w.cfg.Account
	r.PoolID = w.poolID
	r.Heartbeat = now.UTC()
	r.Slots = w.slots
	r.RootDir = w.rootDir
	r.RunningTasks = names
	r.StartTask, r.StartTaskInfo = startTask, startInfo
	r.Metrics = w.metrics.sample(w.rootDir, now)
	return r
}

// pokeRecord asks the record writer to write soon; it never blocks.
func (w *Worker) pokeRecord() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// recordLoop is the node record's single writer: every Heartbeat, and soon
// after a state change (coalesced: the latest state wins). When the record
// was deleted or set to leavingpool by someone else, it stops the worker.
func (w *Worker) recordLoop(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.poke:
		}
		err := w.writeRecord(ctx)
		switch {
		case errors.Is(err, ErrNodeRemoved):
			w.onRemoved()
			return
		case err != nil && ctx.Err() == nil:
			w.log.WarnContext(ctx, "heartbeat", "err", err)
		}
		if !sleepCtx(ctx, recordMinInterval) {
			return
		}
	}
}

// writeRecord writes the node record by compare-and-set, re-reading it on
// a revision mismatch.
func (w *Worker) writeRecord(ctx context.Context) error {
	for range 10 {
		rec := w.snapshot(w.rec.base, "", time.Now())
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rev, err := w.nodes.Update(wctx, w.recordKey, data, w.rec.rev)
		cancel()
		if err == nil {
			w.rec = recordState{rev: rev, base: rec}
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("update node record: %w", err)
		}
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		entry, err := w.nodes.Get(gctx, w.recordKey)
		cancel()
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return ErrNodeRemoved
		}
		if err != nil {
			return fmt.Errorf("read node record: %w", err)
		}
		var stored protocol.NodeRecord
		if err := json.Unmarshal(entry.Value(), &stored); err != nil {
			return fmt.Errorf("decode node record: %w", err)
		}
		if stored.State == batch.NodeLeaving || stored.State == batch.NodePreempted { // preempted: evicted, as Azure's spot nodes
			return ErrNodeRemoved
		}
		w.rec = recordState{rev: entry.Revision(), base: stored}
	}
	return errors.New("update node record: too many concurrent changes")
}

// deleteRecord removes the node record on a graceful stop.
func (w *Worker) deleteRecord(ctx context.Context) {
	d := 5 * time.Second
	if !w.nc.IsConnected() {
		d = time.Second // likely in vain; the dispatcher marks the node offline
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := w.nodes.Delete(ctx, w.recordKey); err != nil {
		w.log.WarnContext(ctx, "delete node record", "err", err)
	}
}

// ipAddress is the node's first non-loopback IPv4 address, else 127.0.0.1.
func ipAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				if ip4 := n.IP.To4(); ip4 != nil {
					return ip4.String()
				}
			}
		}
	}
	return "127.0.0.1"
}

// agentVersion is the version the node reports in nodeAgentInfo.
func agentVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return "natch/" + bi.Main.Version
	}
	return "natch/dev"
}
