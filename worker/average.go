package worker

import (
	"sync/atomic"
	"time"
)

// movingAverage is an exponentially weighted moving average of durations,
// safe for concurrent use: each sample moves it 1/weight of the way. It is
// 0 until the first sample, which it takes as it is; it never returns to 0.
type movingAverage struct {
	weight int64
	v      atomic.Int64 // nanoseconds
}

// add adds a sample.
func (m *movingAverage) add(d time.Duration) {
	for {
		old := m.v.Load()
		avg := int64(d)
		if old != 0 {
			avg = old + (int64(d)-old)/m.weight
		}
		if m.v.CompareAndSwap(old, max(avg, 1)) {
			return
		}
	}
}

// load returns the average (0: no sample yet).
func (m *movingAverage) load() time.Duration { return time.Duration(m.v.Load()) }
