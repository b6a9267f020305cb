package worker

import (
	"sync"
	"time"
)

// runnerIdle is how long a task goroutine waits for the next task before
// it exits.
const runnerIdle = 5 * time.Second

// runners reuses the goroutines that run tasks. A goroutine that finished a
// task waits a while for the next one, so that a node running thousands of
// short tasks does not grow a fresh goroutine stack for each (runTask's
// call depth makes a new goroutine copy its stack several times).
type runners struct {
	work chan func() // unbuffered: a send succeeds only to a waiting goroutine
	quit chan struct{}
}

func newRunners() runners {
	return runners{work: make(chan func()), quit: make(chan struct{})}
}

// goTask runs f on an idle runner goroutine, or a new one, counting it in
// wg as wg.Go does.
func (r *runners) goTask(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	job := func() {
		defer wg.Done()
		f()
	}
	select {
	case r.work <- job:
		return
	default:
	}
	go r.loop(job)
}

func (r *runners) loop(job func()) {
	job()
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		select {
		case job = <-r.work:
			job()
			idle.Reset(runnerIdle)
		case <-idle.C:
			return
		case <-r.quit:
			return
		}
	}
}

// stop ends the idle goroutines; goTask may not be called afterwards.
func (r *runners) stop() { close(r.quit) }
