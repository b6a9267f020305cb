package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/scaler/provider/local"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// buildNatch builds the natch binary, or skips when it cannot run nodes yet.
func buildNatch(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the natch binary")
	}
	bin := filepath.Join(t.TempDir(), "natch")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/natch-io/natch/cmd/natch").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	help, _ := exec.Command(bin, "worker", "--help").CombinedOutput()
	if !strings.Contains(string(help), "--exit-with-parent") {
		t.Skip("natch worker is not built yet")
	}
	return bin
}

// Real workers, started by the local provider, driven by the scaler.
func TestScalerWithRealWorkers(t *testing.T) {
	t.Parallel()
	bin := buildNatch(t)
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv)
	ctx := t.Context()
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{Memory: true}))
	pools, err := js.KeyValue(ctx, topology.PoolsBucket)
	require.NoError(t, err)
	nodes, err := js.KeyValue(ctx, topology.NodesBucket)
	require.NoError(t, err)
	_, err = topology.EnsurePoolConsumer(ctx, js, "acct", "pool1", 0, false)
	require.NoError(t, err)
	key := topology.PoolKey("acct", "pool1")
	raw, err := json.Marshal(&batch.Pool{ID: "Pool1", State: batch.PoolActive, AllocationState: batch.AllocResizing,
		VMSize: "standard_d2s_v3", TargetDedicatedNodes: batch.Int(2), TaskSlotsPerNode: batch.Int(1)})
	require.NoError(t, err)
	_, err = pools.Create(ctx, key, raw)
	require.NoError(t, err)

	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	root := t.TempDir()
	prov, err := local.New(local.Config{Command: []string{bin, "worker"}, NatsURL: srv.ClientURL(), RootDir: root,
		StopGrace: 10 * time.Second, ExtraArgs: []string{"--heartbeat", "200ms", "--shutdown-grace", "1s"}, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, prov.Close(cctx))
	})
	sc, err := scaler.New(js, scaler.Config{Provider: prov, Interval: 100 * time.Millisecond,
		OfflineAfter: 2 * time.Second, StartTimeout: 30 * time.Second, Logger: log})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { require.NoError(t, sc.Run(runCtx)) })
	t.Cleanup(func() { stop(); wg.Wait() })

	pool := func() *batch.Pool {
		e, err := pools.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		require.NoError(t, err)
		var p batch.Pool
		require.NoError(t, json.Unmarshal(e.Value(), &p))
		return &p
	}
	idle := func() map[string]bool {
		out := map[string]bool{}
		lister, err := nodes.ListKeysFiltered(ctx, topology.PoolNodeKeys("acct", "pool1"))
		require.NoError(t, err)
		for k := range lister.Keys() {
			e, err := nodes.Get(ctx, k)
			if err != nil {
				continue
			}
			var r protocol.NodeRecord
			require.NoError(t, json.Unmarshal(e.Value(), &r))
			out[r.ID] = r.State == batch.NodeIdle
		}
		return out
	}
	steadyAt := func(n int) func() bool {
		return func() bool {
			p := pool()
			recs := idle()
			for _, ok := range recs {
				if !ok {
					return false
				}
			}
			return p.AllocationState == batch.AllocSteady && batch.IntOr(p.CurrentDedicatedNodes, -1) == n &&
				len(recs) == n && len(prov.Nodes()) == n
		}
	}
	require.Eventually(t, steadyAt(2), 60*time.Second, 50*time.Millisecond)
	for _, id := range prov.Nodes() {
		_, err := os.Stat(filepath.Join(root, id, local.LogFile))
		require.NoError(t, err)
	}

	resize := func(mutate func(*batch.Pool)) {
		require.Eventually(t, func() bool {
			e, err := pools.Get(ctx, key)
			require.NoError(t, err)
			var p batch.Pool
			require.NoError(t, json.Unmarshal(e.Value(), &p))
			mutate(&p)
			raw, err := json.Marshal(&p)
			require.NoError(t, err)
			_, err = pools.Update(ctx, key, raw, e.Revision())
			return err == nil
		}, 10*time.Second, 10*time.Millisecond)
	}
	resize(func(p *batch.Pool) { p.TargetDedicatedNodes, p.AllocationState = batch.Int(1), batch.AllocResizing })
	require.Eventually(t, steadyAt(1), 30*time.Second, 50*time.Millisecond)

	// A worker killed outright goes offline and is replaced.
	dead := prov.Nodes()[0]
	require.NoError(t, prov.Kill(dead))
	require.Eventually(t, func() bool {
		ids := prov.Nodes()
		return len(ids) == 1 && ids[0] != dead
	}, 30*time.Second, 50*time.Millisecond)

	resize(func(p *batch.Pool) { p.State = batch.PoolDeleting })
	require.Eventually(t, func() bool { return pool() == nil }, 60*time.Second, 50*time.Millisecond)
	require.Empty(t, prov.Nodes())
	_, err = js.Consumer(ctx, topology.TasksStream, topology.PoolConsumer("acct", "pool1"))
	require.ErrorIs(t, err, jetstream.ErrConsumerNotFound)
}
