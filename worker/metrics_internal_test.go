package worker

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const statFixture = `cpu  100 20 30 800 50 5 5 0 0 0
cpu0 50 10 15 400 25 2 3 0 0 0
intr 12345
`

const memInfoFixture = `MemTotal:        8000000 kB
MemFree:         1000000 kB
MemAvailable:    6000000 kB
Buffers:          200000 kB
Cached:          3000000 kB
`

const netDevFixture = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 9999999    1000    0    0    0     0          0         0  9999999    1000    0    0    0     0       0          0
  eth0: 1000000    2000    0    0    0     0          0         0   500000    1500    0    0    0     0       0          0
  eth1:     2000      20    0    0    0     0          0         0     3000      30    0    0    0     0       0          0
`

const diskStatsFixture = `   7       0 loop0 500 0 4000 10 0 0 0 0 0 10 10 0 0 0 0 0 0
 253       0 vda 1000 10 20000 300 400 20 8000 500 0 700 800 0 0 0 0 0 0
 253       1 vda1 900 10 18000 280 390 20 7900 490 0 690 790 0 0 0 0 0 0
 252       0 dm-0 100 0 2000 30 50 0 1000 60 0 70 90 0 0 0 0 0 0
 259       0 nvme0n1 10 0 100 1 20 0 200 2 0 3 3
`

func TestParseCPU(t *testing.T) {
	t.Parallel()
	busy, total, err := parseCPU([]byte(statFixture))
	require.NoError(t, err)
	require.Equal(t, uint64(1010), total)    // user … steal
	require.Equal(t, uint64(1010-850), busy) // less idle and iowait
	_, _, err = parseCPU([]byte("intr 1 2 3\n"))
	require.Error(t, err)
	_, _, err = parseCPU([]byte("cpu a b c d e\n"))
	require.Error(t, err)
}

func TestParseMemInfo(t *testing.T) {
	t.Parallel()
	used, err := parseMemInfo([]byte(memInfoFixture))
	require.NoError(t, err)
	require.Equal(t, uint64(2000000*1024), used)
	// Without MemAvailable (kernels before 3.14): free, buffers and cache.
	used, err = parseMemInfo([]byte("MemTotal: 8000000 kB\nMemFree: 1000000 kB\nBuffers: 200000 kB\nCached: 3000000 kB\n"))
	require.NoError(t, err)
	require.Equal(t, uint64(3800000*1024), used)
	_, err = parseMemInfo([]byte("MemFree: 1 kB\n"))
	require.Error(t, err)
}

func TestParseNetDev(t *testing.T) {
	t.Parallel()
	in, out := parseNetDev([]byte(netDevFixture))
	require.Equal(t, uint64(1002000), in, "loopback is not counted")
	require.Equal(t, uint64(503000), out)
}

func TestParseDiskStats(t *testing.T) {
	t.Parallel()
	disks := map[string]bool{"loop0": true, "vda": true, "dm-0": true, "nvme0n1": true} // /sys/block lists no partitions
	d := parseDiskStats([]byte(diskStatsFixture), func(n string) bool { return disks[n] && wholeDisk(n) })
	require.Equal(t, diskCounters{readOps: 1010, readBytes: 20100 * 512, writeOps: 420, writeBytes: 8200 * 512}, d,
		"whole disks only: no loop device, partition or device mapper volume")
}

// TestNodeMetricsSample measures a fixture /proc twice: the CPU percent is
// taken between the two, counters and levels are read as they are, and a
// sample within metricsMinInterval of the last is the last one again.
func TestNodeMetricsSample(t *testing.T) {
	t.Parallel()
	proc, sys := t.TempDir(), t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(proc, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	}
	write("stat", statFixture)
	write("meminfo", memInfoFixture)
	write("net/dev", netDevFixture)
	write("diskstats", diskStatsFixture)
	for _, d := range []string{"vda", "loop0"} {
		require.NoError(t, os.Mkdir(filepath.Join(sys, d), 0o755))
	}
	m := &nodeMetrics{proc: proc, sys: sys}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := m.sample(t.TempDir(), t0)
	require.NotNil(t, s)
	require.Equal(t, t0, s.At)
	require.Zero(t, s.CPUPercent, "no earlier reading: no percent yet")
	require.Equal(t, uint64(2000000*1024), s.MemoryBytes)
	require.Equal(t, uint64(1002000), s.NetworkInBytes)
	require.Equal(t, uint64(503000), s.NetworkOutBytes)
	require.Equal(t, uint64(1000), s.DiskReadOps)
	require.Equal(t, uint64(20000*512), s.DiskReadBytes)
	require.Equal(t, uint64(400), s.DiskWriteOps)
	require.Equal(t, uint64(8000*512), s.DiskWriteBytes)
	if runtime.GOOS == "linux" {
		require.Positive(t, s.DiskBytes, "statfs of the root dir")
	}

	// 100 more jiffies, 75 of them busy: 75 %.
	write("stat", "cpu  160 20 40 820 55 5 10 0 0 0\n")
	require.Equal(t, s, m.sample("", t0.Add(500*time.Millisecond)), "too soon: the last sample again")
	s = m.sample("", t0.Add(time.Second))
	require.InDelta(t, 75.0, s.CPUPercent, 1e-9)
	require.Zero(t, s.DiskBytes, "no root dir: no disk use")
}

// BenchmarkNodeMetricsSample is the cost of one measurement of this
// machine (the record writer takes at most one a second).
func BenchmarkNodeMetricsSample(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("metrics are measured on Linux only")
	}
	m := &nodeMetrics{}
	root := b.TempDir()
	at := time.Now()
	for b.Loop() {
		at = at.Add(time.Second)
		if m.sample(root, at) == nil {
			b.Fatal("no sample")
		}
	}
}
