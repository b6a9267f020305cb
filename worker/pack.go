package worker

// packPriority is the priority of this node's next pull request when its
// pool packs tasks (taskSchedulingPolicy.nodeFillType pack): 9 when idle
// and one less per slot in use, down to 0. JetStream serves the waiting
// request with the lowest priority first, so the next task goes to the
// busiest node that still has a free slot, and idle nodes get work only
// when the busy ones are full. A task that waits for its slots counts as
// busy.
func (w *Worker) packPriority() int {
	w.mu.Lock()
	queued := w.pf.queuedSlots
	w.mu.Unlock()
	busy := queued + len(w.slotCh)
	return 9 - min(9, max(busy, 0))
}
