package protocol

import "time"

// NodeMetrics is a node's resource sample, measured by its worker (Linux:
// /proc and statfs; zero elsewhere) and carried in its node record. The
// counters are cumulative since the machine booted; the scaler turns them
// into rates.
type NodeMetrics struct {
	// At is when the sample was measured.
	At time.Time `json:"at"`
	// CPUPercent is the machine's CPU use, 0–100, since the previous sample.
	CPUPercent float64 `json:"cpuPercent"`
	// MemoryBytes is the memory in use (total less available).
	MemoryBytes uint64 `json:"memoryBytes"`
	// DiskBytes is the space in use on the file system of the node's root
	// directory.
	DiskBytes uint64 `json:"diskBytes"`
	// DiskReadBytes, DiskWriteBytes, DiskReadOps and DiskWriteOps are the
	// machine's disk counters (whole disks, not partitions).
	DiskReadBytes  uint64 `json:"diskReadBytes"`
	DiskWriteBytes uint64 `json:"diskWriteBytes"`
	DiskReadOps    uint64 `json:"diskReadOps"`
	DiskWriteOps   uint64 `json:"diskWriteOps"`
	// NetworkInBytes and NetworkOutBytes are the machine's network counters
	// (every interface but loopback).
	NetworkInBytes  uint64 `json:"networkInBytes"`
	NetworkOutBytes uint64 `json:"networkOutBytes"`
}

// PoolSample is one autoscale sample of a pool, taken by the scaler every
// sample period and stored in the metrics stream (topology.MetricsSubject).
// Fields absent in older samples read as 0.
type PoolSample struct {
	At          time.Time `json:"at"`
	Active      float64   `json:"active"`      // $ActiveTasks
	Running     float64   `json:"running"`     // $RunningTasks
	Pending     float64   `json:"pending"`     // $PendingTasks
	Dedicated   float64   `json:"dedicated"`   // $CurrentDedicatedNodes
	LowPriority float64   `json:"lowPriority"` // $CurrentLowPriorityNodes

	Succeeded    float64 `json:"succeeded,omitempty"`    // $SucceededTasks
	Failed       float64 `json:"failed,omitempty"`       // $FailedTasks
	ActiveSlots  float64 `json:"activeSlots,omitempty"`  // $ActiveTaskSlots
	RunningSlots float64 `json:"runningSlots,omitempty"` // $RunningTaskSlots
	PendingSlots float64 `json:"pendingSlots,omitempty"` // $PendingTaskSlots

	// Node resource metrics, over the sampled nodes (see the scaler's
	// package documentation for their exact meaning).
	CPUPercent       float64 `json:"cpuPercent,omitempty"`       // $CPUPercent: mean, 0–100
	MemoryMB         float64 `json:"memoryMB,omitempty"`         // $MemoryBytes: mean, in MB (2^20 bytes)
	DiskGB           float64 `json:"diskGB,omitempty"`           // $DiskBytes: mean, in GB (2^30 bytes)
	DiskReadBytes    float64 `json:"diskReadBytes,omitempty"`    // $DiskReadBytes: sum per sample period
	DiskWriteBytes   float64 `json:"diskWriteBytes,omitempty"`   // $DiskWriteBytes
	DiskReadOps      float64 `json:"diskReadOps,omitempty"`      // $DiskReadOps
	DiskWriteOps     float64 `json:"diskWriteOps,omitempty"`     // $DiskWriteOps
	NetworkInBytes   float64 `json:"networkInBytes,omitempty"`   // $NetworkInBytes
	NetworkOutBytes  float64 `json:"networkOutBytes,omitempty"`  // $NetworkOutBytes
	WallClockSeconds float64 `json:"wallClockSeconds,omitempty"` // $WallClockSeconds
	SampleNodes      float64 `json:"sampleNodes,omitempty"`      // $SampleNodeCount
	UsableNodes      float64 `json:"usableNodes,omitempty"`      // $UsableNodeCount
	PreemptedNodes   float64 `json:"preemptedNodes,omitempty"`   // $PreemptedNodeCount
}

// Value returns the sample's value of a formula variable, by its
// canonical name ("$PendingTasks"); ok is false for a variable that is
// not sampled.
func (s *PoolSample) Value(name string) (v float64, ok bool) {
	switch name {
	case "$ActiveTasks":
		return s.Active, true
	case "$RunningTasks":
		return s.Running, true
	case "$PendingTasks":
		return s.Pending, true
	case "$CurrentDedicatedNodes":
		return s.Dedicated, true
	case "$CurrentLowPriorityNodes":
		return s.LowPriority, true
	case "$SucceededTasks":
		return s.Succeeded, true
	case "$FailedTasks":
		return s.Failed, true
	case "$ActiveTaskSlots":
		return s.ActiveSlots, true
	case "$RunningTaskSlots":
		return s.RunningSlots, true
	case "$PendingTaskSlots":
		return s.PendingSlots, true
	case "$CPUPercent":
		return s.CPUPercent, true
	case "$MemoryBytes":
		return s.MemoryMB, true
	case "$DiskBytes":
		return s.DiskGB, true
	case "$DiskReadBytes":
		return s.DiskReadBytes, true
	case "$DiskWriteBytes":
		return s.DiskWriteBytes, true
	case "$DiskReadOps":
		return s.DiskReadOps, true
	case "$DiskWriteOps":
		return s.DiskWriteOps, true
	case "$NetworkInBytes":
		return s.NetworkInBytes, true
	case "$NetworkOutBytes":
		return s.NetworkOutBytes, true
	case "$WallClockSeconds":
		return s.WallClockSeconds, true
	case "$SampleNodeCount":
		return s.SampleNodes, true
	case "$UsableNodeCount":
		return s.UsableNodes, true
	case "$PreemptedNodeCount":
		return s.PreemptedNodes, true
	}
	return 0, false
}
