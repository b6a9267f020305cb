package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewDist(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := newDist(ds)
	require.Equal(t, dist{N: 100, Min: 1, P50: 50, P90: 90, P99: 99, Max: 100}, d)
	require.Equal(t, time.Duration(100)*time.Millisecond, ds[0], "the input is not reordered")
	require.Equal(t, dist{}, newDist(nil))
	require.Equal(t, dist{N: 1, Min: -2, P50: -2, P90: -2, P99: -2, Max: -2}, newDist([]time.Duration{-2 * time.Millisecond}))
}

func TestSummarizeProgress(t *testing.T) {
	t.Parallel()
	// 1000 tasks at 100 a second, polled every 100 ms, with a 500 ms stall
	// at 5 s.
	var s []progressSample
	done := 0
	for at := 100 * time.Millisecond; done < 1000; at += 100 * time.Millisecond {
		if at <= 5*time.Second || at > 5500*time.Millisecond {
			done += 10
		}
		s = append(s, progressSample{At: at, Completed: done})
	}
	p := summarizeProgress(s, 1000)
	require.InDelta(t, 500, p.LongestStallMs, 1)
	require.InDelta(t, 800/8.5, p.SteadyRate, 1)
	require.InDelta(t, 100, p.MaxWindowRate, 1)
	require.Less(t, p.MinWindowRate, 60.0)
}
