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

// PoolLifetimeStatistics sums the account's pools (PoolStats of each).
func (s *Service) PoolLifetimeStatistics(ctx context.Context, account string) (*batch.PoolStatistics, error) {
	now := s.st.Now().UTC()
	pools, err := s.ListPools(ctx, account)
	if err != nil {
		return nil, err
	}
	sum := &batch.PoolStatistics{StartTime: batch.Time{Time: now}, LastUpdateTime: batch.Time{Time: now},
		UsageStats: &batch.UsageStatistics{LastUpdateTime: batch.Time{Time: now}}}
	for _, p := range pools {
		ps, err := s.PoolStats(ctx, account, p)
		if err != nil {
			return nil, err
		}
		if ps.StartTime.Before(sum.StartTime.Time) {
			sum.StartTime = ps.StartTime
		}
		sum.UsageStats.DedicatedCoreTime += ps.UsageStats.DedicatedCoreTime
	}
	sum.UsageStats.StartTime = sum.StartTime
	return sum, nil
}

// PoolStats is a pool's statistics ($expand=stats): the dedicated
// core-time of the nodes it has now, since each was allocated. natch keeps
// no record of nodes that left and measures no node resource usage, so
// resourceStats is left out.
func (s *Service) PoolStats(ctx context.Context, account string, p *batch.Pool) (*batch.PoolStatistics, error) {
	now := s.st.Now().UTC()
	first := now
	if p.CreationTime != nil {
		first = p.CreationTime.Time
	}
	nodes, err := s.st.Nodes.List(ctx, topology.PoolNodeKeys(account, batch.Key(p.ID)))
	if err != nil {
		return nil, err
	}
	d, _ := coreTime(nodes, VMCores(p.VMSize), time.Time{}, now)
	ct := batch.Duration(time.Duration(d * float64(time.Hour)).Round(time.Second))
	return &batch.PoolStatistics{StartTime: batch.Time{Time: first}, LastUpdateTime: batch.Time{Time: now},
		UsageStats: &batch.UsageStatistics{StartTime: batch.Time{Time: first}, LastUpdateTime: batch.Time{Time: now},
			DedicatedCoreTime: ct}}, nil
}

// JobLifetimeStatistics sums the account's jobs that still exist (JobStats
// of each).
func (s *Service) JobLifetimeStatistics(ctx context.Context, account string) (*batch.JobStatistics, error) {
	now := s.st.Now().UTC()
	var jobs []*batch.Job
	err := s.ScanJobs(ctx, account, 0, func(j *batch.Job, _ uint64) (bool, error) {
		jobs = append(jobs, j)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	sum := &batch.JobStatistics{StartTime: batch.Time{Time: now}, LastUpdateTime: batch.Time{Time: now}}
	for _, j := range jobs {
		st, err := s.JobStats(ctx, account, j)
		if errors.Is(err, batch.ErrJobNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if st.StartTime.Before(sum.StartTime.Time) {
			sum.StartTime = st.StartTime
		}
		sum.UserCPUTime += st.UserCPUTime
		sum.KernelCPUTime += st.KernelCPUTime
		sum.WallClockTime += st.WallClockTime
		sum.WaitTime += st.WaitTime
		sum.NumSucceededTasks += st.NumSucceededTasks
		sum.NumFailedTasks += st.NumFailedTasks
		sum.NumTaskRetries += st.NumTaskRetries
	}
	return sum, nil
}

// JobStats is a job's statistics ($expand=stats), from its task counts:
// succeeded and failed tasks, retries, and the CPU, wall clock and wait
// time of its ended attempts as their nodes measured them. natch measures
// no I/O: those counters are 0.
func (s *Service) JobStats(ctx context.Context, account string, j *batch.Job) (*batch.JobStatistics, error) {
	now := s.st.Now().UTC()
	c, _, err := s.st.Counts.Get(ctx, topology.JobKey(account, batch.Key(j.ID)))
	if errors.Is(err, batch.ErrJobNotFound) {
		c, err = &state.Counts{}, nil
	}
	if err != nil {
		return nil, err
	}
	first := now
	if j.CreationTime != nil {
		first = j.CreationTime.Time
	}
	u := c.Usage
	return &batch.JobStatistics{StartTime: batch.Time{Time: first}, LastUpdateTime: batch.Time{Time: now},
		UserCPUTime: batch.Duration(u.UserCPU), KernelCPUTime: batch.Duration(u.KernelCPU),
		WallClockTime: batch.Duration(u.WallClock), WaitTime: batch.Duration(u.Wait),
		NumSucceededTasks: int64(max(c.Tasks.Succeeded, 0)), NumFailedTasks: int64(max(c.Tasks.Failed, 0)),
		NumTaskRetries: u.Retries}, nil
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
