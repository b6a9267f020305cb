package producer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/producer/producertest"
	"github.com/natch-io/natch/shared/batch"
)

// The REST client: create a pool and a job, add tasks, wait for them and
// read a task's output. A fake server stands in for `natch up` here; against
// a real service use the URL, account and key that natch up prints.
func ExampleClient() {
	srv := producertest.Start()
	defer srv.Close()

	ctx := context.Background()
	c, err := producer.New(producer.Config{URL: srv.URL, Account: producertest.Account, Key: producertest.Key})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.AddPool(ctx, &batch.Pool{ID: "pool1", VMSize: "standard_d2s_v3", TargetDedicatedNodes: batch.Int(2)}); err != nil {
		log.Fatal(err)
	}
	if err := c.AddJob(ctx, &batch.Job{ID: "job1", PoolInfo: &batch.PoolInformation{PoolID: "pool1"}}); err != nil {
		log.Fatal(err)
	}
	var tasks []batch.Task
	for i := range 250 {
		tasks = append(tasks, batch.Task{ID: fmt.Sprintf("frame-%03d", i), CommandLine: fmt.Sprintf("render --frame %d", i)})
	}
	// AddTasks sends 3 addtaskcollection requests (≤100 tasks each) in parallel.
	results, err := c.AddTasks(ctx, "job1", tasks)
	if err != nil {
		log.Fatal(err)
	}
	added := 0
	for _, r := range results {
		if e := producer.AddError(r); e != nil {
			log.Printf("task %s: %v", r.TaskID, e)
			continue
		}
		added++
	}
	fmt.Println("added", added, "tasks")

	// (Here the fake plays the workers: every task runs and succeeds.)
	for _, t := range tasks {
		srv.CompleteTask("job1", t.ID, 0)
	}
	srv.SetFile("job1", "frame-000", "stdout.txt", []byte("rendered frame 0\n"))

	// Poll the task counts until nothing is active or running.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		counts, err := c.TaskCounts(ctx, "job1")
		if err != nil {
			log.Fatal(err)
		}
		tc := counts.TaskCounts
		if tc.Active == 0 && tc.Running == 0 {
			fmt.Printf("completed %d, failed %d\n", tc.Completed, tc.Failed)
			break
		}
		<-tick.C
	}
	if err := c.GetTaskFile(ctx, "job1", "frame-000", "stdout.txt", os.Stdout); err != nil {
		log.Fatal(err)
	}
	_, err = c.GetJob(ctx, "no-such-job")
	fmt.Println(errors.Is(err, batch.ErrJobNotFound), err)
	// Output:
	// added 250 tasks
	// completed 250, failed 0
	// rendered frame 0
	// true JobNotFound: The specified job does not exist.
}

// The submitters' fast path: publish tasks straight to the submit stream.
// SubmitTasks returns once JetStream has acknowledged every task; tasks the
// dispatcher then refuses are listed by SubmitErrors. (Needs a running natch:
// `natch up` prints the NATS URL.)
func ExampleNATSClient_SubmitTasks() {
	ctx := context.Background()
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c, err := producer.NewNATS(producer.NATSConfig{Conn: nc, Account: "natch"})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.AddJob(ctx, &batch.Job{ID: "sweep", PoolInfo: &batch.PoolInformation{PoolID: "pool1"}}); err != nil {
		log.Fatal(err)
	}
	tasks := make([]batch.Task, 100000)
	for i := range tasks {
		tasks[i] = batch.Task{ID: fmt.Sprintf("p-%06d", i), CommandLine: fmt.Sprintf("simulate --seed %d", i)}
	}
	res, err := c.SubmitTasks(ctx, "sweep", tasks)
	if err != nil {
		// Some tasks may have been accepted; submitting them again is safe.
		log.Fatalf("accepted %d of %d: %v", res.Accepted, len(tasks), err)
	}
	fmt.Println("accepted", res.Accepted)

	refused, err := c.SubmitErrors(ctx, "sweep")
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range refused {
		fmt.Println(e) // task p-000042: TaskExists: The specified task already exists.
	}
}

// The same API over NATS request/reply, for programs that hold a NATS
// connection: every Client operation but file downloads.
func ExampleNATSClient() {
	ctx := context.Background()
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c, err := producer.NewNATS(producer.NATSConfig{Conn: nc, Account: "natch", Timeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	counts, err := c.TaskCounts(ctx, "sweep")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", counts.TaskCounts)
}
