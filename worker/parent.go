package worker

import (
	"context"
	"os"
	"time"
)

// WithParent returns a context that is cancelled when the process that
// started this one goes away, so that a worker started as a child process
// (the local node provider) stops with its parent. On Linux the kernel is
// also asked to send SIGTERM when the parent dies (which a signal-aware
// context turns into a graceful stop); everywhere, the parent process id is
// polled every poll as a fallback. Call the returned cancel function to
// stop watching.
func WithParent(ctx context.Context, poll time.Duration) (context.Context, context.CancelFunc) {
	ppid := os.Getppid()
	setParentDeathSignal()
	ctx, cancel := context.WithCancel(ctx)
	if ppid == 1 { // already orphaned (or started by init: nothing to watch)
		return ctx, cancel
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(poll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if os.Getppid() != ppid {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(); <-done }
}
