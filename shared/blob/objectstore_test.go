package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

// TestObjectStoreRefusesForeignLinks: an object that links into another
// account's bucket must not be readable through this container.
func TestObjectStoreRefusesForeignLinks(t *testing.T) {
	t.Parallel()
	js := natstest.Run(t)
	ours, err := NewObjectStore(js, "inputs", Config{Account: "ours"})
	require.NoError(t, err)
	theirs, err := NewObjectStore(js, "inputs", Config{Account: "theirs"})
	require.NoError(t, err)
	require.NotEqual(t, ours.Bucket(), theirs.Bucket())
	require.NoError(t, ours.Create(t.Context()))
	require.NoError(t, ours.Create(t.Context()), "Create is idempotent")
	require.NoError(t, theirs.Create(t.Context()))
	put(t, theirs, "secret", []byte("not yours"))

	theirObs, err := js.ObjectStore(t.Context(), theirs.Bucket())
	require.NoError(t, err)
	info, err := theirObs.GetInfo(t.Context(), "secret")
	require.NoError(t, err)
	ourObs, err := js.ObjectStore(t.Context(), ours.Bucket())
	require.NoError(t, err)
	_, err = ourObs.AddLink(t.Context(), "link", info)
	require.NoError(t, err)

	_, _, err = ours.Get(t.Context(), "link")
	require.ErrorIs(t, err, ErrAccessDenied)
	require.True(t, strings.Contains(err.Error(), theirs.Bucket()))
}

// TestObjectStoreOnACluster: a replicated container reads from its stream
// leader, so a blob written through one server is read at once through
// another (a follower's direct get may not have it yet); creating it again
// keeps it so.
func TestObjectStoreOnACluster(t *testing.T) {
	t.Parallel()
	srvs := natstest.Cluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stores [3]*ObjectStore
	for i, srv := range srvs {
		_, js := natstest.Connect(t, srv)
		s, err := NewObjectStore(js, "inputs", Config{Account: "acct", Replicas: 3})
		require.NoError(t, err)
		err = s.Create(ctx)
		for topology.ClusterNotReady(err) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			err = s.Create(ctx)
		}
		require.NoError(t, err, "create through server %d", i+1)
		stores[i] = s
		st, err := js.Stream(ctx, "OBJ_"+s.Bucket())
		require.NoError(t, err)
		require.Equal(t, 3, st.CachedInfo().Config.Replicas)
		require.False(t, st.CachedInfo().Config.AllowDirect)
	}
	for i := range 100 {
		name := fmt.Sprintf("b%d", i%10)
		body := []byte(fmt.Sprint(i))
		_, err := stores[i%3].Put(ctx, name, bytes.NewReader(body), int64(len(body)), nil)
		require.NoError(t, err)
		rc, _, err := stores[(i+1)%3].Get(ctx, name)
		require.NoError(t, err, "blob %d read through the next server", i)
		got, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		require.Equal(t, body, got)
	}
}
