package service

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// UsageInterval is the aggregation window of pool usage metrics: an hour,
// as Azure's.
const UsageInterval = time.Hour

// maxUsageWindows bounds the windows one listUsageMetrics computes per pool
// (31 days of hours).
const maxUsageWindows = 31 * 24

// VMCores is the number of cores natch counts for a VM size: the number
// after the family letters of an Azure size name (standard_d2s_v3 → 2,
// Standard_NC24ads_A100_v4 → 24), 1 when the name has none (local pools
// name any size).
func VMCores(vmSize string) int {
	s := strings.ToLower(vmSize)
	for _, p := range []string{"standard_", "basic_"} {
		s = strings.TrimPrefix(s, p)
	}
	s = strings.TrimLeft(s, "abcdefghijklmnopqrstuvwxyz")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil || n <= 0 {
		return 1
	}
	return n
}

// coreTime is how long a pool's nodes have been allocated within [from,
// to), in core-hours, dedicated and low-priority apart. Only the nodes the
// pool has now count: natch keeps no record of nodes that left.
func coreTime(nodes []state.Entry[protocol.NodeRecord], cores int, from, to time.Time) (dedicated, low float64) {
	for _, e := range nodes {
		n := e.Value
		if n.AllocationTime == nil {
			continue
		}
		start := n.AllocationTime.Time
		if start.Before(from) {
			start = from
		}
		if !to.After(start) {
			continue
		}
		h := to.Sub(start).Hours() * float64(cores)
		if n.IsDedicated {
			dedicated += h
		} else {
			low += h
		}
	}
	return dedicated, low
}

// ListUsageMetrics returns each pool's core-hours per hour window that
// overlaps [start, end) (both rounded to the hour; the window still under
// way counts up to now). Without start and end it is the current window
// only. Core-hours are the allocation time of the nodes the pool has now
// times VMCores of its vmSize: nodes that have left are not counted.
func (s *Service) ListUsageMetrics(ctx context.Context, account string, start, end *time.Time) ([]batch.PoolUsageMetrics, error) {
	now := s.st.Now().UTC()
	from := now.Truncate(UsageInterval)
	to := from.Add(UsageInterval)
	if start != nil {
		from = start.UTC().Truncate(UsageInterval)
	}
	if end != nil {
		to = end.UTC().Truncate(UsageInterval)
		if !end.Equal(to) {
			to = to.Add(UsageInterval)
		}
	}
	if !to.After(from) {
		return nil, (&batch.Error{Status: 400, Code: "InvalidQueryParameterValue",
			Message: "The value for one of the query parameters specified in the request URI is invalid."}).With("QueryParameterName", "endtime").
			With("Reason", "endtime must be after starttime")
	}
	if to.Sub(from) > maxUsageWindows*UsageInterval {
		return nil, (&batch.Error{Status: 400, Code: "OutOfRangeQueryParameterValue",
			Message: "The value for one of the query parameters specified in the request URI is outside the permitted range."}).With("QueryParameterName", "starttime").
			With("Reason", "at most 31 days of usage metrics per request")
	}
	pools, err := s.ListPools(ctx, account)
	if err != nil {
		return nil, err
	}
	out := []batch.PoolUsageMetrics{}
	for _, p := range pools {
		nodes, err := s.st.Nodes.List(ctx, topology.PoolNodeKeys(account, batch.Key(p.ID)))
		if err != nil {
			return nil, err
		}
		cores := VMCores(p.VMSize)
		for w := from; w.Before(to) && !w.After(now); w = w.Add(UsageInterval) {
			if p.CreationTime != nil && !p.CreationTime.Before(w.Add(UsageInterval)) {
				continue // the pool did not exist in this window
			}
			wend := w.Add(UsageInterval)
			if wend.After(now) {
				wend = now
			}
			d, l := coreTime(nodes, cores, w, wend)
			out = append(out, batch.PoolUsageMetrics{PoolID: p.ID, StartTime: batch.Time{Time: w},
				EndTime: batch.Time{Time: w.Add(UsageInterval)}, VMSize: p.VMSize, TotalCoreHours: d + l})
		}
	}
	return out, nil
}

// PoolLifetimeStatistics sums the account's pools: the dedicated
// core-time of the nodes they have now, since each was allocated. natch
// measures no resource usage (CPU, memory, disk, network): resourceStats
// is left out.
func (s *Service) PoolLifetimeStatistics(ctx context.Context, account string) (*batch.PoolStatistics, error) {
	now := s.st.Now().UTC()
	pools, err := s.ListPools(ctx, account)
	if err != nil {
		return nil, err
	}
	first := now
	var dedicated float64
	for _, p := range pools {
		if p.CreationTime != nil && p.CreationTime.Before(first) {
			first = p.CreationTime.Time
		}
		nodes, err := s.st.Nodes.List(ctx, topology.PoolNodeKeys(account, batch.Key(p.ID)))
		if err != nil {
			return nil, err
		}
		d, _ := coreTime(nodes, VMCores(p.VMSize), time.Time{}, now)
		dedicated += d
	}
	ct := batch.Duration(time.Duration(dedicated * float64(time.Hour)).Round(time.Second))
	return &batch.PoolStatistics{StartTime: batch.Time{Time: first}, LastUpdateTime: batch.Time{Time: now},
		UsageStats: &batch.UsageStatistics{StartTime: batch.Time{Time: first}, LastUpdateTime: batch.Time{Time: now},
			DedicatedCoreTime: ct}}, nil
}

// JobLifetimeStatistics sums the account's jobs that still exist: their
// succeeded and failed task counts. natch does not measure CPU time, I/O
// or wait time: those are zero.
func (s *Service) JobLifetimeStatistics(ctx context.Context, account string) (*batch.JobStatistics, error) {
	now := s.st.Now().UTC()
	first := now
	var jobs []string
	err := s.ScanJobs(ctx, account, 0, func(j *batch.Job, _ uint64) (bool, error) {
		if j.CreationTime != nil && j.CreationTime.Before(first) {
			first = j.CreationTime.Time
		}
		jobs = append(jobs, j.ID)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	st := &batch.JobStatistics{StartTime: batch.Time{Time: first}, LastUpdateTime: batch.Time{Time: now}}
	for _, id := range jobs {
		c, err := s.TaskCounts(ctx, account, id)
		if errors.Is(err, batch.ErrJobNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		st.NumSucceededTasks += int64(c.TaskCounts.Succeeded)
		st.NumFailedTasks += int64(c.TaskCounts.Failed)
	}
	return st, nil
}

// SupportedImages are the images natch's providers run nodes on: the
// Ubuntu LTS images of the Azure VM scale set deployment
// (deployments/azure), and "natch.node.local", the machine the local
// provider runs its nodes on (whatever image a pool names, a local node
// runs on the host).
func SupportedImages() []batch.ImageInformation {
	return []batch.ImageInformation{
		{NodeAgentSKUID: "batch.node.ubuntu 22.04", OSType: "linux", VerificationType: "verified",
			ImageReference: batch.ImageReference{Publisher: "canonical", Offer: "0001-com-ubuntu-server-jammy", SKU: "22_04-lts", Version: "latest"}},
		{NodeAgentSKUID: "batch.node.ubuntu 24.04", OSType: "linux", VerificationType: "verified",
			ImageReference: batch.ImageReference{Publisher: "canonical", Offer: "ubuntu-24_04-lts", SKU: "server", Version: "latest"}},
		{NodeAgentSKUID: "natch.node.local", OSType: localOSType(), VerificationType: "unverified",
			ImageReference: batch.ImageReference{Publisher: "natch", Offer: "local", SKU: "host", Version: "latest"}},
	}
}

// localOSType is Azure's osType of this machine.
func localOSType() string {
	if runtime.GOOS == "windows" {
		return "windows"
	}
	return "linux"
}
