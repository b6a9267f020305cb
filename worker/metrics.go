package worker

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/natch-io/natch/shared/protocol"
)

// Node resource metrics: the worker measures the machine when it writes
// its node record (every Heartbeat, and on state changes), at most once per
// metricsMinInterval, and puts the sample in the record
// (protocol.NodeRecord.Metrics), which the scaler folds into the pool's
// autoscale samples ($CPUPercent, $MemoryBytes, …). A sample reads five
// small files (/proc/stat, /proc/meminfo, /proc/net/dev, /proc/diskstats
// and the /sys/block listing) and statfs's the node's root directory. On
// other systems than Linux a node reports no metrics.

// metricsMinInterval is the least time between two measurements: record
// writes closer together (state changes) carry the previous sample, and
// the CPU percent is never taken over a few milliseconds.
const metricsMinInterval = time.Second

// sectorSize is the unit of /proc/diskstats' sector counts.
const sectorSize = 512

// nodeMetrics measures the machine a node runs on. Its zero value reads
// /proc; it is safe for concurrent use.
type nodeMetrics struct {
	proc string // /proc, or a fixture directory in tests
	sys  string // /sys/block, or a fixture directory in tests

	mu          sync.Mutex
	last        *protocol.NodeMetrics
	busy, total uint64 // CPU jiffies at the last sample
}

// sample returns the node's resource sample for now, measuring the
// machine unless the last sample is younger than metricsMinInterval. It
// returns nil where there is nothing to measure (not Linux). A file that
// cannot be read leaves its fields zero.
func (m *nodeMetrics) sample(root string, now time.Time) *protocol.NodeMetrics {
	if runtime.GOOS != "linux" && m.proc == "" {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last != nil && now.Sub(m.last.At) < metricsMinInterval {
		c := *m.last
		return &c
	}
	proc, sys := cmp.Or(m.proc, "/proc"), cmp.Or(m.sys, "/sys/block")
	s := &protocol.NodeMetrics{At: now.UTC()}
	if b, err := os.ReadFile(filepath.Join(proc, "stat")); err == nil {
		if busy, total, err := parseCPU(b); err == nil {
			if total > m.total && busy >= m.busy && m.total > 0 {
				s.CPUPercent = 100 * float64(busy-m.busy) / float64(total-m.total)
			}
			m.busy, m.total = busy, total
		}
	}
	if b, err := os.ReadFile(filepath.Join(proc, "meminfo")); err == nil {
		s.MemoryBytes, _ = parseMemInfo(b)
	}
	if b, err := os.ReadFile(filepath.Join(proc, "net", "dev")); err == nil {
		s.NetworkInBytes, s.NetworkOutBytes = parseNetDev(b)
	}
	if b, err := os.ReadFile(filepath.Join(proc, "diskstats")); err == nil {
		disks := map[string]bool{}
		if entries, err := os.ReadDir(sys); err == nil {
			for _, e := range entries {
				disks[e.Name()] = true
			}
		}
		d := parseDiskStats(b, func(name string) bool { return disks[name] && wholeDisk(name) })
		s.DiskReadBytes, s.DiskWriteBytes, s.DiskReadOps, s.DiskWriteOps = d.readBytes, d.writeBytes, d.readOps, d.writeOps
	}
	if root != "" {
		s.DiskBytes = diskUsed(root)
	}
	m.last = s
	c := *s
	return &c
}

// parseCPU reads the aggregate "cpu" line of /proc/stat: busy and total
// jiffies (total is user … steal; busy is total less idle and iowait;
// guest time is already in user).
func parseCPU(b []byte) (busy, total uint64, err error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: no cpu line")
	}
	var v [8]uint64
	for i := 1; i < len(f) && i <= len(v); i++ {
		if v[i-1], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			return 0, 0, errors.New("/proc/stat: bad cpu line")
		}
	}
	for _, x := range v {
		total += x
	}
	idle := v[3] + v[4] // idle, iowait
	return total - idle, total, nil
}

// parseMemInfo returns the memory in use from /proc/meminfo: MemTotal less
// MemAvailable (less MemFree, Buffers and Cached on kernels without
// MemAvailable), in bytes.
func parseMemInfo(b []byte) (uint64, error) {
	kb := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			kb[k] = n
		}
	}
	total, ok := kb["MemTotal"]
	if !ok {
		return 0, errors.New("/proc/meminfo: no MemTotal")
	}
	avail, ok := kb["MemAvailable"]
	if !ok {
		avail = kb["MemFree"] + kb["Buffers"] + kb["Cached"]
	}
	if avail > total {
		return 0, nil
	}
	return (total - avail) * 1024, nil
}

// parseNetDev sums the received and transmitted bytes of /proc/net/dev
// over every interface but loopback.
func parseNetDev(b []byte) (in, out uint64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		rx, err1 := strconv.ParseUint(f[0], 10, 64)
		tx, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 == nil && err2 == nil {
			in += rx
			out += tx
		}
	}
	return in, out
}

// diskCounters are cumulative disk counters.
type diskCounters struct {
	readBytes, writeBytes, readOps, writeOps uint64
}

// parseDiskStats sums the counters of /proc/diskstats over the devices
// include accepts: reads and writes completed, and sectors read and written
// (512 bytes each, whatever the device's sector size).
func parseDiskStats(b []byte, include func(name string) bool) diskCounters {
	var d diskCounters
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || !include(f[2]) {
			continue
		}
		var v [4]uint64
		ok := true
		for i, col := range [4]int{3, 5, 7, 9} { // reads, sectors read, writes, sectors written
			n, err := strconv.ParseUint(f[col], 10, 64)
			if err != nil {
				ok = false
				break
			}
			v[i] = n
		}
		if !ok {
			continue
		}
		d.readOps += v[0]
		d.readBytes += v[1] * sectorSize
		d.writeOps += v[2]
		d.writeBytes += v[3] * sectorSize
	}
	return d
}

// wholeDisk reports whether a block device (a /sys/block entry) counts as
// a disk: not a loop, RAM, optical or floppy device, and not a device
// mapper or software RAID volume, whose I/O its member disks count already.
func wholeDisk(name string) bool {
	for _, p := range [...]string{"loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}
