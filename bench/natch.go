package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/natch-io/natch/shared/config"
)

// instance is a `natch up` the bench started, in its own data dir.
type instance struct {
	cmd     *exec.Cmd
	dataDir string
	logPath string
	logFile *os.File
	conn    config.Connection
	done    chan error
	monitor string // the embedded NATS server's monitoring address ("" if none)
}

// startNatch starts `natch up` with a fresh data dir under workDir, on free
// ports, and waits until it has written its connection file. The process
// gets its own process group, so a Ctrl-C at the terminal reaches only the
// bench, which then stops natch itself.
func startNatch(ctx context.Context, bin, workDir, name string) (*instance, error) {
	dataDir, err := os.MkdirTemp(workDir, name+"-")
	if err != nil {
		return nil, err
	}
	logPath := dataDir + ".log"
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"up", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0"}
	monitor := freeAddr()
	if monitor != "" {
		args = append(args, "--nats-monitor-addr", monitor)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	in := &instance{cmd: cmd, dataDir: dataDir, logPath: logPath, logFile: logFile, done: make(chan error, 1),
		monitor: monitor}
	go func() { in.done <- cmd.Wait() }()

	connPath := filepath.Join(dataDir, config.ConnectionFile)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := config.Read(connPath); err == nil {
			in.conn = c
			return in, nil
		}
		select {
		case err := <-in.done:
			in.done <- err
			_ = in.stop()
			return nil, fmt.Errorf("natch up exited before it was ready (%v); log:\n%s", err, in.logTail())
		case <-ctx.Done():
			_ = in.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = in.stop()
			return nil, fmt.Errorf("natch up not ready after 60s; log:\n%s", in.logTail())
		}
	}
}

// stop sends SIGINT (Ctrl-C), waits up to a minute for natch up to exit,
// and checks that none of its worker processes outlived it. Leftovers and
// a hung natch are killed (SIGKILL) and reported as errors.
func (in *instance) stop() error {
	defer in.logFile.Close()
	var errs []error
	if in.cmd.ProcessState == nil {
		_ = in.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case err := <-in.done:
		in.done <- err
		if err != nil {
			errs = append(errs, fmt.Errorf("natch up exit: %w", err))
		}
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
		<-in.done
		errs = append(errs, errors.New("natch up did not stop within 60s of SIGINT; killed"))
	}
	if left := processesOf(in.dataDir); len(left) > 0 {
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		errs = append(errs, fmt.Errorf("natch up left %d processes behind (pids %v); killed", len(left), left))
	}
	if len(errs) > 0 {
		errs = append(errs, fmt.Errorf("natch log: %s", in.logPath))
	}
	return errors.Join(errs...)
}

// pid is natch up's process id.
func (in *instance) pid() string { return strconv.Itoa(in.cmd.Process.Pid) }

// workerPIDs are the pids of the instance's worker processes.
func (in *instance) workerPIDs() []string {
	var out []string
	for _, pid := range processesOf(in.dataDir) {
		if pid != in.cmd.Process.Pid {
			out = append(out, strconv.Itoa(pid))
		}
	}
	return out
}

// logTail is the end of natch up's output.
func (in *instance) logTail() string {
	f, err := os.Open(in.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 4000
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// processesOf returns the pids of live processes whose command line names
// dir (natch up itself and its `natch worker` children carry the data dir).
func processesOf(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && isZombie(string(st)) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// isZombie reports whether a /proc/<pid>/stat line is a zombie's.
func isZombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && strings.HasPrefix(stat[i+1:], " Z")
}

// freeAddr is a free loopback address for natch up's NATS monitoring
// endpoint ("" if none could be found: the counts are then not taken).
// Another process could take the port before natch up does; the bench then
// fails to start natch and says so.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

// serverMsgs are the embedded NATS server's message counters (/varz):
// messages received from clients and sent to them.
type serverMsgs struct {
	In  int64 `json:"in_msgs"`
	Out int64 `json:"out_msgs"`
}

// varz reads the embedded server's message counters.
func (in *instance) varz(ctx context.Context) (serverMsgs, error) {
	var v serverMsgs
	if in.monitor == "" {
		return v, errors.New("no monitoring address")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.monitor+"/varz", nil)
	if err != nil {
		return v, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /varz: %s", resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}
