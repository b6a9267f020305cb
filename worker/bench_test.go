package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

// The overhead measurements: go test ./worker -run NONE -bench . -benchtime 3000x
// or NATCH_BENCH=1 go test ./worker -run TestOverhead -v for a side-by-side log.

const benchSlots = 2

// plainExec execs `true` n times, benchSlots at a time, each in a fresh
// directory with its stdout and stderr captured to files: the physical
// limit the worker is measured against.
func plainExec(tb testing.TB, n int) time.Duration {
	root := tb.TempDir()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchSlots {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				dir := filepath.Join(root, "job", "job-1", strconv.FormatInt(i, 10))
				if err := os.MkdirAll(filepath.Join(dir, "wd"), 0o755); err != nil {
					panic(err)
				}
				stdout, err := os.Create(filepath.Join(dir, "stdout.txt"))
				if err != nil {
					panic(err)
				}
				stderr, err := os.Create(filepath.Join(dir, "stderr.txt"))
				if err != nil {
					panic(err)
				}
				cmd := exec.Command("true")
				cmd.Dir, cmd.Stdout, cmd.Stderr = filepath.Join(dir, "wd"), stdout, stderr
				if err := cmd.Run(); err != nil {
					panic(err)
				}
				stdout.Close()
				stderr.Close()
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// benchBundle is a file-store server (as natch up runs it) with n no-op
// tasks queued for a pool.
type benchBundle struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	completed atomic.Int64
	want      int64
	done      chan struct{} // closed when want tasks have completed
}

func newBenchBundle(tb testing.TB, want int) *benchBundle {
	srv := natstest.Server(tb)
	nc, js := natstest.Connect(tb, srv)
	b := &benchBundle{nc: nc, js: js, want: int64(want), done: make(chan struct{})}
	ctx := context.Background()
	require.NoError(tb, topology.Ensure(ctx, js, topology.Options{}))
	_, err := topology.EnsurePoolConsumer(ctx, js, account, batch.Key(poolID), 0, false)
	require.NoError(tb, err)
	sub, err := nc.Subscribe("natch.events.>", func(m *nats.Msg) {
		for _, ev := range decodeEvents(m) {
			if ev.Type == protocol.EventCompleted && b.completed.Add(1) == b.want {
				close(b.done)
			}
		}
	})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return b
}

// decodeEvents decodes an events-stream message: one TaskEvent, or a batch.
func decodeEvents(m *nats.Msg) []protocol.TaskEvent {
	if m.Header.Get(protocol.EventBatchHeader) != "" {
		var eb protocol.TaskEventBatch
		if json.Unmarshal(m.Data, &eb) != nil {
			return nil
		}
		return eb.Events
	}
	var ev protocol.TaskEvent
	if json.Unmarshal(m.Data, &ev) != nil {
		return nil
	}
	return []protocol.TaskEvent{ev}
}

func (b *benchBundle) queue(tb testing.TB, prefix string, n int) {
	for i := range n {
		tm := protocol.TaskMessage{Account: account, PoolID: poolID, JobID: "BenchJob",
			Task: batch.Task{ID: prefix + strconv.Itoa(i), CommandLine: "true"}}
		data, err := json.Marshal(tm)
		require.NoError(tb, err)
		_, err = b.js.PublishAsync(topology.TaskSubject(account, batch.Key(poolID), "benchjob", batch.Key(tm.Task.ID)),
			data, jetstream.WithMsgID(tm.MsgID()))
		require.NoError(tb, err)
	}
	select {
	case <-b.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		tb.Fatal("publish timed out")
	}
}

func (b *benchBundle) startWorker(tb testing.TB) func() {
	w, err := worker.New(b.nc, b.js, worker.Config{Account: account, PoolID: poolID, NodeID: nodeID,
		Slots: benchSlots, RootDir: tb.TempDir()})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() { cancel(); require.NoError(tb, <-done) }
}

// workerNoop runs n queued no-op tasks through a worker and returns the time
// from the worker's start until every completion was published.
func workerNoop(tb testing.TB, n int) time.Duration {
	d, _ := workerNoopCPU(tb, n)
	return d
}

// workerNoopCPU is workerNoop that also returns the CPU time used meanwhile.
func workerNoopCPU(tb testing.TB, n int) (time.Duration, time.Duration) {
	b := newBenchBundle(tb, n)
	b.queue(tb, "t", n)
	cpu := cpuTime()
	start := time.Now()
	stop := b.startWorker(tb)
	defer stop()
	<-b.done
	return time.Since(start), cpuTime() - cpu
}

func BenchmarkPlainExec(b *testing.B) {
	d := plainExec(b, b.N)
	b.ReportMetric(float64(b.N)/d.Seconds(), "tasks/s")
}

func BenchmarkWorkerNoopTasks(b *testing.B) {
	d := workerNoop(b, b.N)
	b.ReportMetric(float64(b.N)/d.Seconds(), "tasks/s")
}

// BenchmarkStartLatency measures, on an idle node, the time from publishing
// a task to its process start (the completed event's startTime).
func BenchmarkStartLatency(b *testing.B) {
	lat := startLatency(b, b.N)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func startLatency(tb testing.TB, n int) []time.Duration {
	bb := newBenchBundle(tb, -1)
	stop := bb.startWorker(tb)
	defer stop()
	events := make(chan protocol.TaskEvent, 1)
	sub, err := bb.nc.Subscribe("natch.events.>", func(m *nats.Msg) {
		for _, ev := range decodeEvents(m) {
			if ev.Type == protocol.EventCompleted {
				events <- ev
			}
		}
	})
	require.NoError(tb, err)
	defer sub.Unsubscribe()
	lat := make([]time.Duration, 0, n)
	for i := range n {
		tm := protocol.TaskMessage{Account: account, PoolID: poolID, JobID: "LatJob",
			Task: batch.Task{ID: "l" + strconv.Itoa(i), CommandLine: "true"}}
		data, err := json.Marshal(tm)
		require.NoError(tb, err)
		sent := time.Now()
		_, err = bb.js.Publish(context.Background(), topology.TaskSubject(account, batch.Key(poolID), "latjob", batch.Key(tm.Task.ID)),
			data, jetstream.WithMsgID(tm.MsgID()))
		require.NoError(tb, err)
		select {
		case ev := <-events:
			lat = append(lat, ev.StartTime.Sub(sent))
		case <-time.After(30 * time.Second):
			tb.Fatal("no completion")
		}
	}
	slices.Sort(lat)
	return lat
}

// cpuTime is the CPU time used by this process and its waited-for children.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// TestOverhead logs the worker's no-op throughput against the plain exec
// loop, and the start latency on an idle node. It runs with NATCH_BENCH=1.
func TestOverhead(t *testing.T) {
	if os.Getenv("NATCH_BENCH") == "" {
		t.Skip("set NATCH_BENCH=1 to measure")
	}
	const n = 3000
	var plain, work, plainCPU, workCPU []float64
	for range 3 {
		c := cpuTime()
		plain = append(plain, n/plainExec(t, n).Seconds())
		plainCPU = append(plainCPU, float64((cpuTime()-c).Microseconds())/n)
		d, cpu := workerNoopCPU(t, n)
		work = append(work, n/d.Seconds())
		workCPU = append(workCPU, float64(cpu.Microseconds())/n)
	}
	for _, s := range [][]float64{plain, work, plainCPU, workCPU} {
		slices.Sort(s)
	}
	lat := startLatency(t, 300)
	t.Log(fmt.Sprintf("no-op tasks, %d slots, %d tasks x3 (median): plain exec loop %.0f/s, worker %.0f/s, ratio %.3f",
		benchSlots, n, plain[1], work[1], work[1]/plain[1]))
	t.Log(fmt.Sprintf("CPU per task (process + children, incl. the embedded server): plain %.0fµs, worker %.0fµs, ratio %.3f",
		plainCPU[1], workCPU[1], plainCPU[1]/workCPU[1]))
	t.Log(fmt.Sprintf("publish → process start on an idle node: p50 %v, p90 %v, p99 %v",
		lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100]))
}
