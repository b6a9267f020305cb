package state

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

// TestScanSeesKeysRewrittenDuringTheScan: a key written again while a scan
// runs is still listed. The server's pending count briefly drops when the
// old revision goes before the new one is counted; a scan that trusted the
// "no messages" answer alone then came up empty.
func TestScanSeesKeysRewrittenDuringTheScan(t *testing.T) {
	t.Parallel()
	js := natstest.Run(t)
	scanDuringWrites(t, js, topology.Options{Memory: true}, 300)
}

// TestScanSeesKeysRewrittenDuringTheScanOnACluster is the same on a
// three-server cluster with replicated buckets (leader reads). Not
// parallel: a cluster on a busy two-core machine may not place its
// streams for a long while.
func TestScanSeesKeysRewrittenDuringTheScanOnACluster(t *testing.T) {
	srvs := natstest.Cluster(t, 3)
	_, js := natstest.Connect(t, srvs[0])
	scanDuringWrites(t, js, topology.Options{Memory: true, Replicas: 3}, 30)
}

func scanDuringWrites(t *testing.T, js jetstream.JetStream, o topology.Options, scans int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := openStore(t, js, o)
	require.Equal(t, o.Replicas <= 1, st.Tasks.stream.CachedInfo().Config.AllowDirect)

	const keys = 3
	for i := range keys {
		_, err := st.Tasks.Put(ctx, fmt.Sprintf("acct.job.t%d", i), &TaskRecord{Task: batch.Task{ID: "t"}})
		require.NoError(t, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// A key the scan matches but the test does not check, and a key it
	// does not match, are written all the time. (The first is what made
	// the consumer's pending count drop for a moment.)
	put := func(key string) bool {
		_, err := st.Tasks.Put(ctx, key, &TaskRecord{Task: batch.Task{ID: "t"}})
		if err != nil {
			t.Error(err)
		}
		return err == nil
	}
	busy := func(key string) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if !put(key) {
				return
			}
		}
	}
	wg.Go(func() { busy("acct.job.busy") })
	wg.Go(func() { busy("other.job.t") })
	defer func() { close(stop); wg.Wait() }()
	// The checked keys are each written again once while the scan and the
	// list run, at some point of them (the scan promises to see a key that
	// moves once or twice; a key written again and again all along it may
	// miss).
	for n := range scans {
		var moves sync.WaitGroup
		for i := range keys {
			moves.Go(func() {
				time.Sleep(time.Duration((n*7+i*3)%10) * 200 * time.Microsecond)
				put(fmt.Sprintf("acct.job.t%d", i))
			})
		}
		seen := map[string]bool{}
		require.NoError(t, st.Tasks.Scan(ctx, "acct.job.*", 0, func(e Entry[TaskRecord]) bool {
			seen[e.Key] = true
			return true
		}))
		es, err := st.Tasks.List(ctx, "acct.job.*")
		require.NoError(t, err)
		moves.Wait()
		listed := map[string]int{}
		for _, e := range es {
			listed[e.Key]++
		}
		for i := range keys {
			key := fmt.Sprintf("acct.job.t%d", i)
			require.True(t, seen[key], "%s is scanned", key)
			require.Equal(t, 1, listed[key], "%s is listed once", key)
		}
	}
}

// TestScanPages: a scan crosses batches, skips deleted keys, keeps to its
// filter, resumes after a revision and stops when told.
func TestScanPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t, natstest.Run(t), topology.Options{Memory: true})

	const n = 2*scanBatch + 10
	var want []string
	for i := range n {
		k := fmt.Sprintf("acct.job.t%04d", i)
		_, err := st.Tasks.Put(ctx, k, &TaskRecord{Task: batch.Task{ID: k}})
		require.NoError(t, err)
		_, err = st.Tasks.Put(ctx, fmt.Sprintf("acct.other.t%04d", i), &TaskRecord{})
		require.NoError(t, err)
		if i%7 == 0 {
			require.NoError(t, st.Tasks.Delete(ctx, k))
			continue
		}
		want = append(want, k)
	}
	var got []string
	var revs []uint64
	require.NoError(t, st.Tasks.Scan(ctx, "acct.job.*", 0, func(e Entry[TaskRecord]) bool {
		require.Equal(t, e.Key, e.Value.ID)
		got, revs = append(got, e.Key), append(revs, e.Revision)
		return true
	}))
	require.Equal(t, want, got, "in revision order, deleted keys left out")
	require.IsIncreasing(t, revs)

	var rest []string
	require.NoError(t, st.Tasks.Scan(ctx, "acct.job.*", revs[300], func(e Entry[TaskRecord]) bool {
		rest = append(rest, e.Key)
		return len(rest) < 5
	}))
	require.Equal(t, want[301:306], rest, "resumes after a revision, stops when told")

	es, err := st.Tasks.List(ctx, "acct.job.*")
	require.NoError(t, err)
	require.Len(t, es, len(want))
	require.Equal(t, want[0], es[0].Key)

	require.NoError(t, st.Tasks.Scan(ctx, "nobody.*", 0, func(Entry[TaskRecord]) bool {
		t.Fatal("nothing matches")
		return false
	}))
}
