// Command bench measures natch against the targets of docs/benchmarks.md:
//
//	throughput  20,000 `true` tasks on one local node with two slots, against
//	            a plain Go loop doing the same work with two goroutines
//	            (target: natch ≥ 0.85 × baseline)
//	submit      tasks/s accepted by addtaskcollection when no node runs them
//	            (target: ≥ 20,000/s)
//	latency     one task at a time on an idle node: executionInfo.startTime −
//	            the time the add returned (targets: p50 ≤ 5 ms, p99 ≤ 50 ms)
//	fanin       1,000 `true` tasks and a merge task that depends on all of
//	            them, against the same 1,001 tasks without dependencies in
//	            the same natch up (target: fan-in ≥ 0.9 × plain)
//	autoscale   100 tasks added to an empty autoscale pool (formula
//	            min(4, $PendingTasks.GetSample(1)), evaluated every second):
//	            first task running and all done, after the add
//	            (target: first task running ≤ 3 s)
//	staging     (only with -only staging) 1 GiB in 256 files staged from the
//	            object store into a task directory by worker/stage and
//	            uploaded back, against a raw copy of the same bytes with the
//	            same blob client (target: natch ≥ 0.80 × raw); in process,
//	            no natch binary needed
//
// Each benchmark starts its own `natch up` in a fresh data dir, talks to it
// over the REST API (SharedKey-signed, as the Azure SDKs do) and stops it
// with SIGINT, checking that no process is left behind. The machine is
// assumed shared and noisy, so the throughput benchmark runs its baseline
// before and after natch in the same run and reports the ratio, along with
// the CPU time per task of each side. Data, task and baseline dirs go to
// /dev/shm unless -dir says otherwise (see defaultDir).
//
// Usage (make bench builds bin/natch first):
//
//	go run ./bench -natch bin/natch [-only throughput|submit|latency|fanin|autoscale] [-tasks 20000] [-json] [-keep]
//	go run ./bench -only staging [-stage-mb 1024] [-stage-files 256]
//
// It exits 0 when the measurements were made, whether or not they meet
// the targets, and 1 on errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the bench's flags.
type options struct {
	natch             string
	only              string
	tasks             int
	rounds            int
	addConcurrency    int
	poll              time.Duration
	timeout           time.Duration
	submitTasks       int
	submitConcurrency []int
	latencyN          int
	latencyPoll       time.Duration
	fanIn             int
	fanInRounds       int
	autoscaleTasks    int
	autoscaleCommand  string
	autoscaleSlots    int
	stageMB           int
	stageFiles        int
	keep              bool
	json              bool
	dir               string

	workDir string // parent of every data dir of this run
}

// parseFlags parses and checks the flags, and resolves the natch binary.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.natch, "natch", "bin/natch", "the natch binary to measure")
	fs.StringVar(&o.only, "only", "", "run one benchmark: throughput, submit, latency, fanin, autoscale or staging (default: all but staging)")
	fs.IntVar(&o.stageMB, "stage-mb", 1024, "MiB staged and uploaded in the staging benchmark (e.g. 64 for a quick run)")
	fs.IntVar(&o.stageFiles, "stage-files", 256, "files the staging benchmark's bytes are split into")
	fs.IntVar(&o.tasks, "tasks", 20000, "tasks in the throughput benchmark (natch and baseline)")
	fs.IntVar(&o.rounds, "rounds", 3, "natch runs in the throughput benchmark; baseline runs before and after each (the verdict is the median of the runs' ratios)")
	fs.IntVar(&o.addConcurrency, "add-concurrency", 8, "addtaskcollection requests in flight in the throughput benchmark")
	fs.DurationVar(&o.poll, "poll", 50*time.Millisecond, "taskcounts poll interval in the throughput benchmark")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up a throughput run after this long")
	fs.IntVar(&o.submitTasks, "submit-tasks", 50000, "tasks per submit-rate measurement")
	conc := fs.String("submit-concurrency", "8,16,32", "comma-separated addtaskcollection requests in flight to try in the submit benchmark")
	fs.IntVar(&o.latencyN, "latency-tasks", 200, "tasks in the latency benchmark")
	fs.DurationVar(&o.latencyPoll, "latency-poll", 2*time.Millisecond, "task GET interval in the latency benchmark")
	fs.IntVar(&o.fanIn, "fanin-tasks", 1000, "parent tasks of the fan-in benchmark's merge task")
	fs.IntVar(&o.fanInRounds, "fanin-rounds", 4, "pairs of jobs (plain, fan-in) the fan-in benchmark times")
	fs.IntVar(&o.autoscaleTasks, "autoscale-tasks", 100, "tasks added to the empty pool in the autoscale benchmark")
	fs.StringVar(&o.autoscaleCommand, "autoscale-command", "sleep 0.5", "command line of the autoscale benchmark's tasks")
	fs.IntVar(&o.autoscaleSlots, "autoscale-slots", 2, "taskSlotsPerNode of the autoscale benchmark's pool")
	fs.StringVar(&o.dir, "dir", defaultDir(), "where to make the work dir (data dirs, task dirs, baseline dirs); its file system matters (see docs/benchmarks.md)")
	fs.BoolVar(&o.keep, "keep", false, "keep the data dirs and natch logs (printed at the end)")
	fs.BoolVar(&o.json, "json", false, "print a machine-readable summary (JSON) on stdout instead of tables")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch o.only {
	case "", "throughput", "submit", "latency", "fanin", "autoscale", "staging":
	default:
		return o, fmt.Errorf("-only %q: want throughput, submit, latency, fanin, autoscale or staging", o.only)
	}
	if o.stageMB < 1 || o.stageFiles < 1 {
		return o, fmt.Errorf("-stage-mb and -stage-files must be positive")
	}
	if o.only == "staging" { // in process: no natch binary
		return o, nil
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-submit-concurrency %q: want positive integers", *conc)
		}
		o.submitConcurrency = append(o.submitConcurrency, n)
	}
	if o.tasks < 1 || o.rounds < 1 || o.addConcurrency < 1 || o.submitTasks < 1 || o.latencyN < 1 ||
		o.fanIn < 1 || o.fanInRounds < 1 || o.autoscaleTasks < 1 || o.autoscaleSlots < 1 {
		return o, fmt.Errorf("-tasks, -rounds, -add-concurrency, -submit-tasks, -latency-tasks, -fanin-tasks, -fanin-rounds, -autoscale-tasks and -autoscale-slots must be positive")
	}
	bin, err := exec.LookPath(o.natch)
	if err != nil {
		return o, fmt.Errorf("-natch %s: %w (run make build first)", o.natch, err)
	}
	if o.natch, err = filepath.Abs(bin); err != nil {
		return o, err
	}
	return o, nil
}

// defaultDir is /dev/shm when it is a writable directory, else the
// system's temporary directory. A RAM file system keeps the disk and the
// file system's history out of the measurement: on ext4, the baseline's
// own cost varies threefold with how many inodes were deleted in the last
// minutes, which swamps what natch adds.
func defaultDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "natch-bench-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// summary is everything a run measured; -json prints it.
type summary struct {
	Date       time.Time         `json:"date"`
	Machine    machine           `json:"machine"`
	Throughput *throughputResult `json:"throughput,omitempty"`
	Submit     *submitResult     `json:"submit,omitempty"`
	Latency    *latencyResult    `json:"latency,omitempty"`
	FanIn      *fanInResult      `json:"fanIn,omitempty"`
	Autoscale  *autoscaleResult  `json:"autoscale,omitempty"`
	Staging    *stagingResult    `json:"staging,omitempty"`
	Verdicts   []verdict         `json:"verdicts"`
	WorkDir    string            `json:"workDir,omitempty"`
}

// run runs the benchmarks the flags select and prints their results on
// stdout; progress goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.workDir, err = os.MkdirTemp(o.dir, "natch-bench-"); err != nil {
		return err
	}
	// Everything (baseline dirs, data dirs, logs) is removed at the very
	// end: on ext4, creating inodes soon after deleting many is markedly
	// slower (the allocator skips recently deleted inodes), which would
	// penalise whichever run follows a cleanup. After an error (other than
	// an interruption) everything is kept for a look.
	defer func() {
		switch {
		case err != nil && ctx.Err() == nil:
			err = fmt.Errorf("%w\n(data dirs and natch logs kept in %s)", err, o.workDir)
		case !o.keep:
			os.RemoveAll(o.workDir)
		}
	}()
	p := &printer{w: stderr, start: time.Now()}
	s := summary{Date: time.Now().UTC(), Machine: thisMachine()}
	s.Machine.Dir, s.Machine.FS = o.dir, fsType(o.dir)
	what := o.natch
	if o.only == "staging" {
		what = "staging (in process)"
	}
	p.logf("natch bench: %s, %d CPUs (%s), work dir %s (%s)", what, s.Machine.CPUs, s.Machine.CPUModel, o.workDir, s.Machine.FS)

	want := func(name string) bool { return o.only == "" || o.only == name }
	if o.only == "staging" {
		if s.Staging, err = runStaging(ctx, o, p); err != nil {
			return fmt.Errorf("staging: %w", err)
		}
	}
	if want("throughput") {
		if s.Throughput, err = runThroughput(ctx, o, p); err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
	}
	if want("submit") {
		if s.Submit, err = runSubmit(ctx, o, p); err != nil {
			return fmt.Errorf("submit: %w", err)
		}
	}
	if want("latency") {
		if s.Latency, err = runLatency(ctx, o, p); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	if want("fanin") {
		if s.FanIn, err = runFanIn(ctx, o, p); err != nil {
			return fmt.Errorf("fanin: %w", err)
		}
	}
	if want("autoscale") {
		if s.Autoscale, err = runAutoscale(ctx, o, p); err != nil {
			return fmt.Errorf("autoscale: %w", err)
		}
	}
	s.Machine.LoadAfter = loadAverage()
	s.Verdicts = s.verdicts()
	if o.keep {
		s.WorkDir = o.workDir
	}
	if o.json {
		return writeJSON(stdout, s)
	}
	writeTables(stdout, s)
	return nil
}
