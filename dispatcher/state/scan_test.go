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
// It runs on one server (direct gets) and on a three-server cluster with
// replicated buckets (leader reads).
func TestScanSeesKeysRewrittenDuringTheScan(t *testing.T) {
	t.Parallel()
	t.Run("one server", func(t *testing.T) {
		t.Parallel()
		js := natstest.Run(t)
		scanDuringWrites(t, js, topology.Options{Memory: true}, 300)
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		srvs := natstest.Cluster(t, 3)
		_, js := natstest.Connect(t, srvs[0])
		scanDuringWrites(t, js, topology.Options{Memory: true, Replicas: 3}, 30)
	})
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
	for i := range keys {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := st.Tasks.Put(ctx, fmt.Sprintf("acct.job.t%d", i), &TaskRecord{Task: batch.Task{ID: "t"}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	for range scans {
		seen := map[string]bool{}
		require.NoError(t, st.Tasks.Scan(ctx, "acct.job.*", 0, func(e Entry[TaskRecord]) bool {
			seen[e.Key] = true
			return true
		}))
		require.Len(t, seen, keys, "every key is listed")
		es, err := st.Tasks.List(ctx, "acct.job.*")
		require.NoError(t, err)
		require.Len(t, es, keys, "List too, each key once")
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
