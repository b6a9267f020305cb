package state

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

// TestClusterReadsSeeTheLatestWrite: on a three-server cluster with
// replicated buckets, a write acknowledged through one server is seen at
// once by a read, get or scan, through every other server, also while
// the cluster is busy. (Direct gets are answered by any replica, and a
// follower may not have applied the write yet; replicated buckets
// therefore read through the stream leader.)
func TestClusterReadsSeeTheLatestWrite(t *testing.T) { // not parallel: see the scan's cluster test
	srvs := natstest.Cluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stores := make([]*Store, len(srvs))
	for i, srv := range srvs { // Ensure on the first, each binding through its own server
		_, js := natstest.Connect(t, srv)
		stores[i] = openStore(t, js, topology.Options{Replicas: 3})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 { // keep the replicas busy
		wg.Go(func() {
			st := stores[w%len(stores)]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = st.Tasks.Put(ctx, fmt.Sprintf("noise.job.t%d", i%200), &TaskRecord{Task: batch.Task{ID: "noise"}})
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	for i := range 1000 {
		w, r := stores[i%3], stores[(i+1)%3]
		key := fmt.Sprintf("acct.job.t%d", i%20)
		rev, err := w.Tasks.Put(ctx, key, &TaskRecord{Task: batch.Task{ID: fmt.Sprint(i)}})
		require.NoError(t, err)
		v, got, err := r.Tasks.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, rev, got, "get %d sees the write", i)
		require.Equal(t, fmt.Sprint(i), v.ID)
		if i%100 == 0 {
			es, err := r.Tasks.List(ctx, "acct.job.*")
			require.NoError(t, err)
			found := false
			for _, e := range es {
				found = found || (e.Key == key && e.Revision == rev)
			}
			require.True(t, found, "list %d sees the write", i)
		}
	}
}
