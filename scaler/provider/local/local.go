// Package local is the scaler's provider of compute nodes on this machine:
// each node is a `natch worker` child process.
//
// Node n of the provider lives in RootDir/n (the worker's --root-dir) and
// writes its stdout and stderr to RootDir/n/agent.log. Children never
// outlive the process that started them: each runs in its own process group
// with a parent-death signal (SIGKILL) tied to a thread that lives as long
// as the provider, and is told --exit-with-parent. Stop sends SIGTERM to the
// worker and SIGKILL to its process group after StopGrace; Close stops every
// child that way and waits for all of them.
package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/natch-io/natch/scaler"
)

// Config configures a Provider.
type Config struct {
	// Command is the worker command; the node's flags follow it. Defaults to
	// [os.Executable(), "worker"].
	Command []string
	// NatsURL is what workers connect to. Required.
	NatsURL string
	// RootDir holds the node directories RootDir/<nodeID>; made absolute.
	// Required.
	RootDir string
	// AccountURL is the account's REST endpoint, passed as --account-url
	// (workers build node and file URLs from it). Optional.
	AccountURL string
	// ExtraArgs are appended to every worker's command line.
	ExtraArgs []string
	// Env is added to the environment workers inherit ("KEY=value").
	Env []string
	// StopGrace is how long a stopping worker has after SIGTERM before its
	// process group is killed. Defaults to 30s.
	StopGrace time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("local provider: find natch executable: %w", err)
		}
		c.Command = []string{exe, "worker"}
	}
	if c.RootDir != "" {
		// Absolute: workers run in their node directory.
		root, err := filepath.Abs(c.RootDir)
		if err != nil {
			return c, fmt.Errorf("local provider: RootDir: %w", err)
		}
		c.RootDir = root
	}
	c.StopGrace = cmp.Or(c.StopGrace, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (c Config) validate() error {
	switch {
	case c.NatsURL == "":
		return errors.New("local provider: NatsURL is required")
	case c.RootDir == "":
		return errors.New("local provider: RootDir is required")
	case c.StopGrace < 0:
		return errors.New("local provider: StopGrace must not be negative")
	}
	return nil
}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("local provider: closed")

// LogFile is the name of a node's agent log in its directory.
const LogFile = "agent.log"

// Provider runs compute nodes as child processes. It implements
// scaler.Provider.
type Provider struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex // guards everything below; held across a fork
	procs     map[string]*proc
	preempted map[string]time.Time // evicted nodes, by id: when
	closed    bool
	wg        sync.WaitGroup // the waiters of procs

	spawnReqs chan *exec.Cmd // to the forking goroutine; nil until the first Start
	spawnErrs chan error
	spawnDone chan struct{}
}

type proc struct {
	id     string
	cmd    *exec.Cmd
	pid    int
	exited bool        // guarded by Provider.mu
	kill   *time.Timer // the grace timer of a stopping process
}

var (
	_ scaler.Provider  = (*Provider)(nil)
	_ scaler.Preempter = (*Provider)(nil)
)

// New returns a Provider. It does no I/O beyond resolving the natch
// executable when Command is empty and RootDir when it is relative.
func New(cfg Config) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, log: cfg.Logger.With("component", "local-provider"), procs: make(map[string]*proc),
		preempted: make(map[string]time.Time)}, nil
}

// Dir is node's directory: RootDir/<nodeID>.
func (p *Provider) Dir(nodeID string) string { return filepath.Join(p.cfg.RootDir, nodeID) }

// Args are the worker's command-line arguments for spec, after Command.
func (p *Provider) Args(spec scaler.NodeSpec) []string {
	args := []string{
		"--nats-url", p.cfg.NatsURL,
		"--account", spec.Account,
		"--pool", spec.PoolID,
		"--node-id", spec.NodeID,
		"--root-dir", p.Dir(spec.NodeID),
		"--slots", strconv.Itoa(max(spec.Slots, 1)),
		"--exit-with-parent",
	}
	if spec.VMSize != "" {
		args = append(args, "--vm-size", spec.VMSize)
	}
	if !spec.Dedicated {
		args = append(args, "--low-priority")
	}
	if p.cfg.AccountURL != "" {
		args = append(args, "--account-url", p.cfg.AccountURL)
	}
	return append(args, p.cfg.ExtraArgs...)
}

// Start starts a worker process for spec. It returns once the process is
// forked.
func (p *Provider) Start(ctx context.Context, spec scaler.NodeSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := spec.NodeID
	if id == "" || id == "." || id == ".." || filepath.Base(id) != id {
		return fmt.Errorf("local provider: invalid node id %q", id)
	}
	dir := p.Dir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("local provider: node dir: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("local provider: agent log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor

	cmd := exec.Command(p.cfg.Command[0], append(p.cfg.Command[1:len(p.cfg.Command):len(p.cfg.Command)], p.Args(spec)...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrClosed
	case p.procs[id] != nil:
		return fmt.Errorf("local provider: node %s is already running", id)
	}
	if err := p.fork(cmd); err != nil {
		return fmt.Errorf("local provider: start node %s: %w", id, err)
	}
	n := &proc{id: id, cmd: cmd, pid: cmd.Process.Pid}
	p.procs[id] = n
	p.wg.Go(func() { p.wait(n) })
	p.log.InfoContext(ctx, "worker started", "node_id", id, "pid", n.pid, "dir", dir)
	return nil
}

// fork starts cmd on the forking goroutine's thread. Pdeathsig fires when
// the thread that forked the child exits, not the process: the Go runtime
// ends a thread whose locked goroutine returns, so forks happen on one
// goroutine locked to its thread for the provider's life. Called with mu
// held.
func (p *Provider) fork(cmd *exec.Cmd) error {
	if p.spawnReqs == nil {
		p.spawnReqs, p.spawnErrs, p.spawnDone = make(chan *exec.Cmd), make(chan error), make(chan struct{})
		go spawner(p.spawnReqs, p.spawnErrs, p.spawnDone) // owned: Close closes spawnReqs and waits for spawnDone
	}
	p.spawnReqs <- cmd
	return <-p.spawnErrs
}

func spawner(reqs <-chan *exec.Cmd, errs chan<- error, done chan<- struct{}) {
	defer close(done)
	runtime.LockOSThread()
	// Unlock on the way out: the thread survives (children are gone by then).
	defer runtime.UnlockOSThread()
	for cmd := range reqs {
		errs <- cmd.Start()
	}
}

// wait reaps a child and sweeps what is left of its process group.
func (p *Provider) wait(n *proc) {
	err := n.cmd.Wait()
	p.mu.Lock()
	n.exited = true
	if n.kill != nil {
		n.kill.Stop()
	}
	if p.procs[n.id] == n {
		delete(p.procs, n.id)
	}
	p.mu.Unlock()
	// The group cannot be reused while members remain, so this reaches only
	// leftovers of this worker.
	_ = syscall.Kill(-n.pid, syscall.SIGKILL)
	p.log.Info("worker exited", "node_id", n.id, "pid", n.pid, "status", exitStatus(err))
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// Stop sends SIGTERM to the node's worker and SIGKILL to its process group
// after StopGrace. It does not wait; unknown and exited nodes are no error.
func (p *Provider) Stop(_ context.Context, nodeID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.procs[nodeID]
	if n == nil || n.kill != nil {
		return nil
	}
	p.log.Info("stopping worker", "node_id", nodeID, "pid", n.pid, "grace", p.cfg.StopGrace)
	n.kill = time.AfterFunc(p.cfg.StopGrace, func() { p.killGroup(n) })
	if err := syscall.Kill(n.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("local provider: stop node %s: %w", nodeID, err)
	}
	return nil
}

// Kill kills the node's worker and its tasks at once (SIGKILL), as a
// crash would. Unknown and exited nodes are no error.
func (p *Provider) Kill(nodeID string) error {
	p.mu.Lock()
	n := p.procs[nodeID]
	p.mu.Unlock()
	if n != nil {
		p.killGroup(n)
	}
	return nil
}

// preemptedRetention is how long Preempted remembers an evicted node: well
// past the scaler's round, so the scaler sees it.
const preemptedRetention = time.Hour

// Preempt evicts a low-priority node as a spot VM's eviction would: its
// process group is killed at once (no grace, so its tasks are requeued
// when their ack wait runs out) and Preempted reports it from then on, so
// that the scaler marks its record preempted and starts a replacement.
// It is the test hook of preemption, and what the scaler calls when the
// dispatcher's preempt operation marked the node. Unknown and exited
// nodes are no error.
func (p *Provider) Preempt(nodeID string) error {
	now := time.Now()
	p.mu.Lock()
	for id, at := range p.preempted {
		if now.Sub(at) > preemptedRetention {
			delete(p.preempted, id)
		}
	}
	n := p.procs[nodeID]
	if n != nil {
		if _, ok := p.preempted[nodeID]; !ok {
			p.preempted[nodeID] = now
		}
	}
	p.mu.Unlock()
	if n != nil {
		p.log.Warn("preempting worker", "node_id", nodeID, "pid", n.pid)
		p.killGroup(n)
	}
	return nil
}

// Preempted reports whether the node was evicted by Preempt (within the
// last hour).
func (p *Provider) Preempted(nodeID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.preempted[nodeID]
	return ok
}

// killGroup kills a worker and what it runs at once: the process groups of
// its children first (a worker runs each task in a process group of its
// own, which would outlive it), then its own. The worker's group is
// stopped meanwhile, so that it starts nothing new.
func (p *Provider) killGroup(n *proc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n.exited {
		return
	}
	p.log.Warn("killing worker", "node_id", n.id, "pid", n.pid)
	_ = syscall.Kill(-n.pid, syscall.SIGSTOP)
	for _, pgid := range childGroups(n.pid) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-n.pid, syscall.SIGKILL)
}

// childGroups returns the process groups of pid's children that are not
// pid's own group, from /proc.
func childGroups(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var groups []int
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		ppid, pgid, ok := parentAndGroup(string(stat))
		if ok && ppid == pid && pgid != pid && !slices.Contains(groups, pgid) {
			groups = append(groups, pgid)
		}
	}
	return groups
}

// parentAndGroup reads the parent pid and process group of a /proc/<pid>/stat
// line: "pid (comm) state ppid pgrp …", where comm may hold spaces and
// parentheses.
func parentAndGroup(stat string) (ppid, pgid int, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 3 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	return ppid, pgid, err1 == nil && err2 == nil
}

// Alive reports whether the node's worker process is running.
func (p *Provider) Alive(nodeID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.procs[nodeID] != nil
}

// Nodes returns the ids of the running workers.
func (p *Provider) Nodes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.procs))
	for id := range p.procs {
		ids = append(ids, id)
	}
	return ids
}

// Close stops every worker (SIGTERM, then SIGKILL after StopGrace) and waits
// for all of them to exit. When ctx ends first, the rest are killed at once;
// Close still waits for them, and returns ctx's error. Start fails after
// Close.
func (p *Provider) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	ids := make([]string, 0, len(p.procs))
	for id := range p.procs {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		_ = p.Stop(ctx, id)
	}
	all := make(chan struct{})
	go func() { p.wg.Wait(); close(all) }() // ends once every waiter has
	var err error
	select {
	case <-all:
	case <-ctx.Done():
		err = ctx.Err()
		p.mu.Lock()
		rest := make([]*proc, 0, len(p.procs))
		for _, n := range p.procs {
			rest = append(rest, n)
		}
		p.mu.Unlock()
		for _, n := range rest {
			p.killGroup(n)
		}
		<-all
	}
	p.mu.Lock()
	reqs, done := p.spawnReqs, p.spawnDone
	p.spawnReqs = nil
	p.mu.Unlock()
	if reqs != nil {
		close(reqs)
		<-done
	}
	return err
}
