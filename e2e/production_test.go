package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
)

// daemon runs one natch component until the test ends (SIGTERM, then wait).
func daemon(t *testing.T, args ...string) *bytes.Buffer {
	t.Helper()
	cmd := exec.Command(natchBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("natch %s output:\n%s", args[0], out.String())
		}
	})
	return &out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// TestProductionShape runs the components on their own against an external
// NATS server: natch account, natch dispatcher, natch scaler, and a natch
// worker started by hand; and drives them over REST, the NATS API and the
// submit stream.
func TestProductionShape(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	natsURL := srv.ClientURL()
	nodeRoot := t.TempDir()

	create := exec.Command(natchBin, "account", "create", "acme", "--nats-url", natsURL, "-o", "json")
	raw, err := create.Output()
	require.NoError(t, err)
	var acct struct {
		Name string
		Keys []string
	}
	require.NoError(t, json.Unmarshal(raw, &acct))
	require.Equal(t, "acme", acct.Name)
	require.Len(t, acct.Keys, 2)

	addr := freeAddr(t)
	daemon(t, "dispatcher", "--nats-url", natsURL, "--http-addr", addr, "--ack-wait", "3s")
	daemon(t, "scaler", "--nats-url", natsURL, "--node-root", nodeRoot, "--account-url", "http://"+addr)

	// The secondary key works too.
	rest, err := producer.New(producer.Config{URL: "http://" + addr, Account: "acme", Key: acct.Keys[1]})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.Eventually(t, func() bool { _, err := rest.ListPools(ctx, nil); return err == nil }, 30*time.Second, 50*time.Millisecond)

	// REST: a pool the scaler fills.
	require.NoError(t, rest.AddPool(ctx, &batch.Pool{ID: "scaled", VMSize: "standard_d2s_v3", TargetDedicatedNodes: batch.Int(1)}))
	require.NoError(t, rest.AddJob(ctx, &batch.Job{ID: "rj", PoolInfo: &batch.PoolInformation{PoolID: "scaled"}}))
	require.NoError(t, rest.AddTask(ctx, "rj", &batch.Task{ID: "t1", CommandLine: "/bin/sh -c 'echo $AZ_BATCH_ACCOUNT_URL'"}))
	require.Eventually(t, func() bool {
		tk, err := rest.GetTask(ctx, "rj", "t1")
		return err == nil && tk.State == batch.TaskCompleted
	}, 60*time.Second, 50*time.Millisecond)
	var stdout bytes.Buffer
	require.NoError(t, rest.GetTaskFile(ctx, "rj", "t1", "stdout.txt", &stdout))
	require.Equal(t, "http://"+addr+"\n", stdout.String())

	// NATS API: a pool with no scaled nodes and a worker started by hand.
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	defer nc.Close()
	napi, err := producer.NewNATS(producer.NATSConfig{Conn: nc, Account: "acme"})
	require.NoError(t, err)
	require.NoError(t, napi.AddPool(ctx, &batch.Pool{ID: "manual", VMSize: "standard_d2s_v3", TaskSlotsPerNode: batch.Int(4)}))
	err = napi.AddPool(ctx, &batch.Pool{ID: "MANUAL", VMSize: "x"})
	require.ErrorIs(t, err, batch.ErrPoolExists)
	require.NoError(t, napi.AddJob(ctx, &batch.Job{ID: "nj", PoolInfo: &batch.PoolInformation{PoolID: "manual"},
		OnAllTasksComplete: batch.OnAllTasksTerminate}))
	daemon(t, "worker", "--nats-url", natsURL, "--account", "acme", "--pool", "manual", "--node-id", "handmade",
		"--root-dir", t.TempDir())

	// The fast path: 500 tasks published to the submit stream, plus two bad ones.
	tasks := make([]batch.Task, 500)
	for i := range tasks {
		tasks[i] = batch.Task{ID: fmt.Sprintf("s-%03d", i), CommandLine: "true"}
	}
	res, err := napi.SubmitTasks(ctx, "nj", tasks)
	require.NoError(t, err)
	require.Equal(t, 500, res.Accepted)
	js, err := nc.JetStream()
	require.NoError(t, err)
	_, err = js.Publish("natch.submit.acme.nj", []byte(`{"id":"no-command"}`), nats.MsgId("acme/nj/no-command"))
	require.NoError(t, err)
	_, err = js.Publish("natch.submit.acme.nj", []byte(`{"id":"s-001","commandLine":"true"}`), nats.MsgId("acme/nj/s-001-again"))
	require.NoError(t, err)

	if !assertEventually(func() bool {
		j, err := napi.GetJob(ctx, "nj")
		return err == nil && j.State == batch.JobCompleted
	}, 90*time.Second) {
		j, err := napi.GetJob(ctx, "nj")
		c, cerr := napi.TaskCounts(ctx, "nj")
		t.Fatalf("the job never completed by onAllTasksComplete: %+v %v; counts %+v %v", j, err, c, cerr)
	}
	c, err := napi.TaskCounts(ctx, "nj")
	require.NoError(t, err)
	require.Equal(t, batch.TaskCounts{Completed: 500, Succeeded: 500}, c.TaskCounts)
	tk, err := napi.GetTask(ctx, "nj", "s-499")
	require.NoError(t, err)
	require.Equal(t, "handmade", tk.NodeInfo.NodeID)
	errs, err := napi.SubmitErrors(ctx, "nj")
	require.NoError(t, err)
	codes := map[string]string{}
	for _, e := range errs {
		codes[e.TaskID] = e.Err.Code
	}
	require.Equal(t, map[string]string{"no-command": "MissingRequiredProperty", "s-001": "TaskExists"}, codes)
	_, err = napi.GetJob(ctx, "nope")
	require.ErrorIs(t, err, batch.ErrJobNotFound)
}
