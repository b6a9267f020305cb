package worker

import (
	"context"
	"time"
)

// progressLoop keeps every held task message alive: an InProgress ack
// every AckWait/3. A task whose acks could not go out for longer than
// AckWait (the node is cut off from NATS) has been or will be redelivered
// elsewhere, so its process is killed and it is not acked.
func (w *Worker) progressLoop(ctx context.Context) {
	interval := w.ackWait / 3
	tick := time.NewTicker(min(interval, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			w.progress(ctx, now, interval)
		}
	}
}

// progress does one round of progressLoop.
func (w *Worker) progress(ctx context.Context, now time.Time, interval time.Duration) {
	connected := w.nc.IsConnected()
	var cut []*task
	w.mu.Lock()
	for t := range w.held {
		if connected && now.Sub(t.lastSent) >= interval {
			t.lastSent = now
			if err := t.msg.InProgress(); err != nil {
				w.log.DebugContext(ctx, "progress ack", "job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "err", err)
			} else {
				t.lastOK = now
			}
		}
		if !t.cut && t.cancel != nil && !t.settling && now.Sub(t.lastOK) > w.ackWait {
			t.cut = true
			cut = append(cut, t)
		}
	}
	w.mu.Unlock()
	for _, t := range cut {
		w.log.WarnContext(ctx, "no progress ack reached NATS within AckWait: killing the task",
			"job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "ack_wait", w.ackWait)
		t.cancel(errCutOff)
	}
}
