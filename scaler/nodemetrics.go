package scaler

import (
	"strconv"
	"time"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// Node resource metrics. Each worker puts its latest resource sample in its
// node record (protocol.NodeMetrics, refreshed with the heartbeat). Every
// sample period the scaler folds the pool's records into the pool's sample:
// levels are averaged over the nodes, counters are turned into rates per
// node and summed over the nodes. See the package documentation.

// Units of $MemoryBytes and $DiskBytes: Azure documents them as the
// average megabytes and gigabytes used.
const (
	megabyte = 1 << 20
	gigabyte = 1 << 30
)

// numCounters is the number of cumulative counters of a NodeMetrics.
const numCounters = 6

// counters are a sample's cumulative counters, in the order of the
// PoolSample fields they feed.
func counters(m *protocol.NodeMetrics) [numCounters]uint64 {
	return [numCounters]uint64{m.DiskReadBytes, m.DiskWriteBytes, m.DiskReadOps, m.DiskWriteOps,
		m.NetworkInBytes, m.NetworkOutBytes}
}

// nodeRates is what the scaler keeps of one node's counters between
// samples: the last node sample seen and the rates (per second) between it
// and the one before.
type nodeRates struct {
	last  protocol.NodeMetrics
	rates [numCounters]float64
}

// observe folds a node's latest sample in: a newer sample than the last
// one updates the rates; a counter that went backwards (the machine
// rebooted) rates 0 until the next sample.
func (r *nodeRates) observe(m *protocol.NodeMetrics) {
	if !m.At.After(r.last.At) {
		return
	}
	if !r.last.At.IsZero() {
		dt := m.At.Sub(r.last.At).Seconds()
		prev, cur := counters(&r.last), counters(m)
		for i := range cur {
			r.rates[i] = 0
			if cur[i] >= prev[i] {
				r.rates[i] = float64(cur[i]-prev[i]) / dt
			}
		}
	}
	r.last = *m
}

// observe folds a node's resource sample into its rates as its record
// changes, so that the rates are there by the pool's next sample.
func (a *autoscaleState) observe(key string, m *protocol.NodeMetrics) {
	if m == nil {
		return
	}
	if a.rates == nil {
		a.rates = make(map[string]*nodeRates)
	}
	nr := a.rates[key]
	if nr == nil {
		nr = &nodeRates{}
		a.rates[key] = nr
	}
	nr.observe(m)
}

// FillNodeSample fills s's node variables from a pool's node records at
// now as the scaler's samples do, but from one look: the disk and network
// variables, which take two samples of a node, are 0. Metrics older than
// fresh are not sampled.
func FillNodeSample(s *protocol.PoolSample, records []protocol.NodeRecord, now time.Time, fresh time.Duration) {
	nodes := make(map[string]nodeEntry, len(records))
	for i, r := range records {
		nodes[strconv.Itoa(i)] = nodeEntry{rec: r}
	}
	sampleNodes(s, nodes, map[string]*nodeRates{}, now, SamplePeriod, fresh)
}

// sampleNodes fills smp's node variables from the pool's node records at
// now, updating rates (by node key; entries of nodes gone are dropped).
// A node is sampled when it is starting, idle or running and its metrics
// are at most fresh old:
//
//   - $SampleNodeCount: the sampled nodes;
//   - $CPUPercent: their mean CPU percent (0–100);
//   - $MemoryBytes, $DiskBytes: their mean memory and disk use, in MB and
//     GB as Azure documents;
//   - $DiskReadBytes … $NetworkOutBytes: the sum over them of each node's
//     rate (between its last two samples) times period: bytes or
//     operations per sample period;
//   - $WallClockSeconds: the sampled nodes times period, in seconds;
//   - $UsableNodeCount: the idle and running nodes;
//   - $PreemptedNodeCount: the preempted nodes.
func sampleNodes(smp *protocol.PoolSample, nodes map[string]nodeEntry, rates map[string]*nodeRates,
	now time.Time, period, fresh time.Duration) {
	var cpu, mem, disk float64
	var sums [numCounters]float64
	n := 0
	for key, e := range nodes {
		r := &e.rec
		switch r.State {
		case batch.NodeIdle, batch.NodeRunning:
			smp.UsableNodes++
		case batch.NodePreempted:
			smp.PreemptedNodes++
		}
		m := r.Metrics
		if m == nil || (r.State != batch.NodeIdle && r.State != batch.NodeRunning && r.State != batch.NodeStarting) {
			delete(rates, key)
			continue
		}
		nr := rates[key]
		if nr == nil {
			nr = &nodeRates{}
			rates[key] = nr
		}
		nr.observe(m)
		if now.Sub(m.At) > fresh {
			continue
		}
		n++
		cpu += m.CPUPercent
		mem += float64(m.MemoryBytes)
		disk += float64(m.DiskBytes)
		for i, v := range nr.rates {
			sums[i] += v * period.Seconds()
		}
	}
	for key := range rates {
		if _, ok := nodes[key]; !ok {
			delete(rates, key)
		}
	}
	smp.SampleNodes = float64(n)
	smp.WallClockSeconds = float64(n) * period.Seconds()
	if n == 0 {
		return
	}
	smp.CPUPercent = cpu / float64(n)
	smp.MemoryMB = mem / float64(n) / megabyte
	smp.DiskGB = disk / float64(n) / gigabyte
	smp.DiskReadBytes, smp.DiskWriteBytes, smp.DiskReadOps, smp.DiskWriteOps = sums[0], sums[1], sums[2], sums[3]
	smp.NetworkInBytes, smp.NetworkOutBytes = sums[4], sums[5]
}
