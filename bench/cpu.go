package main

import (
	"os"
	"strconv"
	"strings"
)

// clockTicks is the unit of /proc CPU times (USER_HZ, 100 on Linux).
const clockTicks = 100.0

// procTimes are a process's CPU seconds: its own, and its waited-for
// children's (task processes are the worker's children).
type procTimes struct {
	Self     float64
	Children float64
}

// readProcTimes reads /proc/<pid>/stat ("self" for this process). A
// process that is gone reads as zero.
func readProcTimes(pid string) procTimes {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procTimes{}
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procTimes{}
	}
	// After "pid (comm)": state is field 3; utime, stime, cutime, cstime
	// are fields 14–17.
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return procTimes{}
	}
	num := func(k int) float64 {
		v, _ := strconv.ParseFloat(f[k-3], 64)
		return v / clockTicks
	}
	return procTimes{Self: num(14) + num(15), Children: num(16) + num(17)}
}

// machineTimes are the machine's busy, stolen and total CPU seconds (all
// CPUs). Steal is time the hypervisor gave to other guests while this one
// had work; it counts as busy.
type machineTimes struct {
	Busy, Steal, Total float64
}

func readMachineTimes() machineTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineTimes{}
	}
	var m machineTimes
	for k, s := range f[1:] {
		if k >= 8 { // guest times are already in user
			break
		}
		v, _ := strconv.ParseFloat(s, 64)
		m.Total += v / clockTicks
		if k != 3 && k != 4 { // idle, iowait
			m.Busy += v / clockTicks
		}
		if k == 7 {
			m.Steal = v / clockTicks
		}
	}
	return m
}

// cpuUse is how the CPU time of a run was spent, in seconds.
type cpuUse struct {
	// Service is natch up's own CPU: nats-server, dispatcher, scaler, API.
	Service float64 `json:"serviceSeconds"`
	// Agent is the worker processes' own CPU.
	Agent float64 `json:"agentSeconds"`
	// Tasks is the task processes' CPU (children waited for by the worker,
	// or by the bench in the baseline).
	Tasks float64 `json:"taskSeconds"`
	// Bench is the bench process's own CPU: the baseline loop, or the
	// client adding tasks and polling.
	Bench float64 `json:"benchSeconds"`
	// MachineBusy is the fraction of all CPUs that was busy, whoever used
	// it (other load on a shared machine included).
	MachineBusy float64 `json:"machineBusy"`
	// MachineSteal is the fraction of all CPUs stolen by the hypervisor.
	MachineSteal float64 `json:"machineSteal"`
}

// cpuMeter measures the CPU used by the bench, natch up and its workers
// between its creation and a call to since.
type cpuMeter struct {
	pids    []string // "self", then natch up, then workers
	before  []procTimes
	mBefore machineTimes
}

// newCPUMeter starts measuring; service is natch up's pid ("" for none).
func newCPUMeter(service string, agents []string) *cpuMeter {
	m := &cpuMeter{pids: append([]string{"self", service}, agents...)}
	m.before = m.sample()
	m.mBefore = readMachineTimes()
	return m
}

func (m *cpuMeter) sample() []procTimes {
	out := make([]procTimes, len(m.pids))
	for i, pid := range m.pids {
		if pid != "" {
			out[i] = readProcTimes(pid)
		}
	}
	return out
}

// since returns the CPU used since the meter was made.
func (m *cpuMeter) since() cpuUse {
	now, mNow := m.sample(), readMachineTimes()
	var u cpuUse
	for i := range now {
		self := now[i].Self - m.before[i].Self
		switch i {
		case 0:
			u.Bench = self
		case 1:
			u.Service = self
		default:
			u.Agent += self
		}
		u.Tasks += now[i].Children - m.before[i].Children
	}
	if d := mNow.Total - m.mBefore.Total; d > 0 {
		u.MachineBusy = (mNow.Busy - m.mBefore.Busy) / d
		u.MachineSteal = (mNow.Steal - m.mBefore.Steal) / d
	}
	return u
}
