package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/natch-io/natch/worker/stage"
)

// Targets of the benchmarks (see docs/benchmarks.md).
const (
	targetRatio      = 0.85  // natch throughput / baseline throughput, at least
	targetSubmitRate = 20000 // tasks/s accepted by addtaskcollection, at least
	targetP50Ms      = 5.0   // start-after-add p50, at most
	targetP99Ms      = 50.0  // start-after-add p99, at most
)

// printer writes progress lines with the time since the bench started.
type printer struct {
	w     io.Writer
	start time.Time
}

func (p *printer) logf(format string, args ...any) {
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// machine describes where the bench ran.
type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpuModel"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	// LoadBefore and LoadAfter are /proc/loadavg's 1-minute load average
	// when the bench started and ended: other work on a shared machine.
	LoadBefore float64 `json:"loadBefore"`
	LoadAfter  float64 `json:"loadAfter"`
	// Dir is where the data, task and baseline dirs were, and FS its file
	// system type.
	Dir string `json:"dir"`
	FS  string `json:"fs"`
}

// fsType names the file system dir is on.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch uint64(st.Type) {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794C7630:
		return "overlayfs"
	}
	return fmt.Sprintf("0x%x", uint64(st.Type))
}

// loadAverage is the 1-minute load average (0 if unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func thisMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		LoadBefore: loadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// verdict is one target and whether the run met it.
type verdict struct {
	Benchmark string `json:"benchmark"`
	Measured  string `json:"measured"`
	Target    string `json:"target"`
	Pass      bool   `json:"pass"`
}

func (s summary) verdicts() []verdict {
	var out []verdict
	if t := s.Throughput; t != nil {
		out = append(out, verdict{Benchmark: "throughput natch/baseline",
			Measured: fmt.Sprintf("median of %d rounds %.2f (means %.0f / %.0f tasks/s)", len(t.RoundRatios), t.MedianRatio, t.NatchRate, t.BaselineRate),
			Target:   fmt.Sprintf("≥ %.2f", targetRatio), Pass: t.MedianRatio >= targetRatio})
	}
	if r := s.Submit; r != nil {
		out = append(out, verdict{Benchmark: "submit rate",
			Measured: fmt.Sprintf("%.0f tasks/s (%d in flight)", r.Best.Rate, r.Best.Concurrency),
			Target:   fmt.Sprintf("≥ %d tasks/s", targetSubmitRate), Pass: r.Best.Rate >= targetSubmitRate})
	}
	if l := s.Latency; l != nil {
		out = append(out,
			verdict{Benchmark: "latency p50 (start − add)", Measured: fmt.Sprintf("%.2f ms", l.Start.P50),
				Target: fmt.Sprintf("≤ %.0f ms", targetP50Ms), Pass: l.Start.P50 <= targetP50Ms},
			verdict{Benchmark: "latency p99 (start − add)", Measured: fmt.Sprintf("%.2f ms", l.Start.P99),
				Target: fmt.Sprintf("≤ %.0f ms", targetP99Ms), Pass: l.Start.P99 <= targetP99Ms})
	}
	if f := s.FanIn; f != nil {
		out = append(out, verdict{Benchmark: "fan-in 1,000 → 1 vs plain",
			Measured: fmt.Sprintf("%.2fs / %.2fs = %.2f", f.PlainSeconds, f.DepsSeconds, f.Ratio),
			Target:   fmt.Sprintf("≥ %.2f", targetFanInRatio), Pass: f.Ratio >= targetFanInRatio})
	}
	if a := s.Autoscale; a != nil {
		out = append(out, verdict{Benchmark: "autoscale: first task running after add",
			Measured: fmt.Sprintf("%.2f s (all %d done %.2f s)", a.FirstRun, a.Tasks, a.AllDone),
			Target:   fmt.Sprintf("≤ %.0f s", targetFirstRunS), Pass: a.FirstRun <= targetFirstRunS})
	}
	if st := s.Staging; st != nil {
		out = append(out, verdict{Benchmark: "staging natch/raw copy",
			Measured: fmt.Sprintf("stage %.0f + upload %.0f MiB/s vs raw %.0f + %.0f MiB/s = %.2f",
				st.Stage, st.Upload, st.RawDownload, st.RawUpload, st.Ratio),
			Target: fmt.Sprintf("≥ %.2f", targetStageRatio), Pass: st.Ratio >= targetStageRatio})
	}
	return out
}

func writeJSON(w io.Writer, s summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// writeTables prints the details of each benchmark, then the verdicts.
func writeTables(w io.Writer, s summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...any) {
		strs := make([]string, len(cells))
		for i, c := range cells {
			strs[i] = fmt.Sprint(c)
		}
		fmt.Fprintln(tw, strings.Join(strs, "\t"))
	}
	m := s.Machine
	fmt.Fprintf(w, "\nnatch bench, %s, %d × %s, %s, dirs on %s (%s), load average %.1f before, %.1f after\n",
		s.Date.Format(time.RFC3339), m.CPUs, m.CPUModel, m.GoVersion, m.FS, m.Dir, m.LoadBefore, m.LoadAfter)
	if t := s.Throughput; t != nil {
		fmt.Fprintf(w, "\nThroughput (order %s)\n", t.Order)
		row("run", "tasks", "seconds", "tasks/s", "adds done (s)", "first start (ms)", "worker span (s)", "worker tasks/s",
			"CPU ms/task: service", "agent", "tasks", "bench", "machine busy", "steal")
		cpu := func(c cpuUse, n int) []any {
			per := func(s float64) string { return f2(1000 * s / float64(n)) }
			return []any{per(c.Service), per(c.Agent), per(c.Tasks), per(c.Bench), pct(c.MachineBusy), pct(c.MachineSteal)}
		}
		bi, ni := 0, 0
		for _, kind := range strings.Split(t.Order, ",") {
			if kind == "baseline" {
				b := t.Baseline[bi]
				bi++
				row(append([]any{fmt.Sprintf("baseline #%d", bi), b.Tasks, f2(b.Seconds), f0(b.Rate), "", "", "", ""},
					cpu(b.CPU, b.Tasks)...)...)
				continue
			}
			n := t.Natch[ni]
			ni++
			row(append([]any{fmt.Sprintf("natch #%d", ni), n.Tasks, f2(n.Seconds), f0(n.Rate), f2(n.AddSeconds),
				f0(1000 * n.FirstStartSeconds), f2(n.WorkerSeconds), f0(n.WorkerRate)}, cpu(n.CPU, n.Tasks)...)...)
		}
		tw.Flush()
		fmt.Fprintf(w, "mean: natch %.0f tasks/s, baseline %.0f tasks/s, ratio %.3f\n", t.NatchRate, t.BaselineRate, t.Ratio)
		fmt.Fprintf(w, "each natch run against the baselines around it: %s; median %.3f\n", fmtRatios(t.RoundRatios), t.MedianRatio)
		fmt.Fprintf(w, "CPU per task: natch %.2f ms, baseline %.2f ms, ratio %.3f (the throughput ratio to expect when CPU-bound)\n",
			t.NatchCPUMs, t.BaselineCPUMs, t.CPURatio)
		for i, n := range t.Natch {
			if n.ServerInPerTask > 0 {
				fmt.Fprintf(w, "NATS messages per task, natch #%d: %.2f received from clients, %.2f sent to them (adds included)\n",
					i+1, n.ServerInPerTask, n.ServerOutPerTask)
			}
		}
	}
	if r := s.Submit; r != nil {
		fmt.Fprintf(w, "\nSubmit rate (pool with 0 nodes, addtaskcollection of 100 tasks)\n")
		row("in flight", "tasks", "seconds", "tasks/s", "CPU ms/task: service", "bench", "machine busy", "steal")
		for _, x := range r.Runs {
			per := func(s float64) string { return fmt.Sprintf("%.3f", 1000*s/float64(x.Tasks)) }
			row(x.Concurrency, x.Tasks, f2(x.Seconds), f0(x.Rate), per(x.CPU.Service), per(x.CPU.Bench),
				pct(x.CPU.MachineBusy), pct(x.CPU.MachineSteal))
		}
		tw.Flush()
	}
	if l := s.Latency; l != nil {
		fmt.Fprintf(w, "\nLatency on an idle node (%d tasks one at a time, task polled every %.0f ms)\n", l.Start.N, l.PollMs)
		row("ms", "min", "p50", "p90", "p99", "max")
		for _, x := range []struct {
			name string
			d    dist
		}{{"startTime − add returned", l.Start}, {"startTime − add sent", l.StartSent}, {"add call", l.Add},
			{"add → seen completed", l.Completed}} {
			row(x.name, f2(x.d.Min), f2(x.d.P50), f2(x.d.P90), f2(x.d.P99), f2(x.d.Max))
		}
		tw.Flush()
	}
	if f := s.FanIn; f != nil {
		fmt.Fprintf(w, "\nFan-in (1 node × %d slots; seconds from the first add to all completed)\n", throughputSlots)
		row("job", "tasks", "seconds")
		for _, r := range f.Runs {
			kind := "plain"
			if r.Deps {
				kind = "fan-in"
			}
			row(kind, r.Tasks, f2(r.Seconds))
		}
		tw.Flush()
	}
	if a := s.Autoscale; a != nil {
		fmt.Fprintf(w, "\nAutoscale from an empty pool (%d × %q, %d slots a node, %s every 1 s; seconds after the add)\n",
			a.Tasks, a.Command, a.Slots, a.Formula)
		row("first node", "first task running", "all done", "seen done", "max nodes", "back to 0 nodes")
		back := "-"
		if a.BackToZero >= 0 {
			back = f2(a.BackToZero)
		}
		row(f2(a.FirstNode), f2(a.FirstRun), f2(a.AllDone), f2(a.SeenDone), a.MaxNodes, back)
		tw.Flush()
	}
	if st := s.Staging; st != nil {
		fmt.Fprintf(w, "\nStaging (%d files, %d MiB, object store, %d at a time)\n", st.Files, st.Bytes>>20, stage.DefaultParallel)
		row("MiB/s", "download", "upload")
		row("raw copy (before and after, mean time)", f0(st.RawDownload), f0(st.RawUpload))
		row("worker/stage (cold cache)", f0(st.Stage), f0(st.Upload))
		row("worker/stage (node cache hit)", f0(st.CachedStage), "")
		tw.Flush()
	}
	fmt.Fprintf(w, "\nSummary\n")
	row("benchmark", "measured", "target", "")
	for _, v := range s.Verdicts {
		mark := "MISS"
		if v.Pass {
			mark = "PASS"
		}
		row(v.Benchmark, v.Measured, v.Target, mark)
	}
	tw.Flush()
	if s.WorkDir != "" {
		fmt.Fprintf(w, "\ndata dirs and natch logs kept in %s\n", s.WorkDir)
	}
}

func pct(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }
func f0(v float64) string  { return fmt.Sprintf("%.0f", v) }
func f2(v float64) string  { return fmt.Sprintf("%.2f", v) }

// median is the middle of xs (the mean of the two middle ones for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// fmtRatios lists ratios with two decimals.
func fmtRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, ", ")
}
