package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

// TestProductionCluster runs natch on a three-server NATS cluster with
// replicated state, as deployment.md describes: one dispatcher with
// --replicas 3, a second one on another server (which keeps the replicas it
// finds, as natch account create does), and the scaler on the third. What
// one dispatcher accepts, the other reads at once (an SDK's "add the job,
// then add its task" may go to either), and the tasks run.
func TestProductionCluster(t *testing.T) {
	t.Parallel()
	srvs := natstest.Cluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	addrA, addrB := freeAddr(t), freeAddr(t)
	daemon(t, "dispatcher", "--nats-url", srvs[0].ClientURL(), "--http-addr", addrA, "--replicas", "3")
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addrA + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, time.Minute, 50*time.Millisecond, "dispatcher A serves")

	raw, err := exec.CommandContext(ctx, natchBin, "account", "create", "acme",
		"--nats-url", srvs[1].ClientURL(), "-o", "json").Output()
	require.NoError(t, err)
	var acct struct{ Keys []string }
	require.NoError(t, json.Unmarshal(raw, &acct))
	daemon(t, "dispatcher", "--nats-url", srvs[1].ClientURL(), "--http-addr", addrB)
	daemon(t, "scaler", "--nats-url", srvs[2].ClientURL(), "--node-root", t.TempDir(), "--account-url", "http://"+addrA)

	a, err := producer.New(producer.Config{URL: "http://" + addrA, Account: "acme", Key: acct.Keys[0]})
	require.NoError(t, err)
	b, err := producer.New(producer.Config{URL: "http://" + addrB, Account: "acme", Key: acct.Keys[0]})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := b.ListPools(ctx, nil); return err == nil }, time.Minute, 50*time.Millisecond)

	// Neither natch account create nor the second dispatcher shrank the
	// replicas, and the buckets read from their leaders.
	nc, err := nats.Connect(srvs[2].ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	for _, name := range []string{topology.TasksStream, "KV_" + topology.TasksBucket, "KV_" + topology.JobsBucket} {
		st, err := js.Stream(ctx, name)
		require.NoError(t, err)
		require.Equal(t, 3, st.CachedInfo().Config.Replicas, name)
		if name != topology.TasksStream {
			require.False(t, st.CachedInfo().Config.AllowDirect, name)
		}
	}

	require.NoError(t, a.AddPool(ctx, &batch.Pool{ID: "p", VMSize: "standard_d2s_v3", TargetDedicatedNodes: batch.Int(1),
		TaskSlotsPerNode: batch.Int(4)}))
	const jobs, tasks = 10, 5
	for j := range jobs {
		first, second := a, b
		if j%2 == 1 {
			first, second = b, a
		}
		id := fmt.Sprintf("job%d", j)
		require.NoError(t, first.AddJob(ctx, &batch.Job{ID: id, PoolInfo: &batch.PoolInformation{PoolID: "p"}}), id)
		for i := range tasks {
			tid := fmt.Sprintf("t%d", i)
			require.NoError(t, second.AddTask(ctx, id, &batch.Task{ID: tid, CommandLine: "true"}), "%s/%s through the other dispatcher", id, tid)
			_, err := first.GetTask(ctx, id, tid)
			require.NoError(t, err, "%s/%s read back through the first", id, tid)
		}
	}
	for j := range jobs {
		id := fmt.Sprintf("job%d", j)
		require.Eventually(t, func() bool {
			c, err := b.TaskCounts(ctx, id)
			return err == nil && c.TaskCounts.Succeeded == tasks
		}, 2*time.Minute, 100*time.Millisecond, id)
		ts, err := a.ListTasks(ctx, id, nil)
		require.NoError(t, err)
		require.Len(t, ts, tasks)
		for _, tk := range ts {
			require.Equal(t, batch.TaskCompleted, tk.State)
			require.Equal(t, 0, *tk.ExecutionInfo.ExitCode)
		}
	}
}
