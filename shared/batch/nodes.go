package batch

import "fmt"

// MaxRemoveNodes is the most node ids one pool removeNodes names.
const MaxRemoveNodes = 100

// NodeDisableScheduling is the body of computeNode disableScheduling.
type NodeDisableScheduling struct {
	// NodeDisableSchedulingOption: requeue (default), terminate or taskcompletion.
	NodeDisableSchedulingOption string `json:"nodeDisableSchedulingOption,omitempty"`
}

// NodeReboot is the body of computeNode reboot.
type NodeReboot struct {
	// NodeRebootOption: requeue (default), terminate, taskcompletion or retaineddata.
	NodeRebootOption string `json:"nodeRebootOption,omitempty"`
}

// NodeReimage is the body of computeNode reimage.
type NodeReimage struct {
	// NodeReimageOption: requeue (default), terminate, taskcompletion or retaineddata.
	NodeReimageOption string `json:"nodeReimageOption,omitempty"`
}

// NodeRemove is the body of pool removeNodes.
type NodeRemove struct {
	NodeList               []string  `json:"nodeList"`
	ResizeTimeout          *Duration `json:"resizeTimeout,omitempty"`
	NodeDeallocationOption string    `json:"nodeDeallocationOption,omitempty"`
}

// UploadBatchServiceLogs is the body of computeNode uploadBatchServiceLogs.
type UploadBatchServiceLogs struct {
	ContainerURL      string `json:"containerUrl"`
	StartTime         *Time  `json:"startTime"`
	EndTime           *Time  `json:"endTime,omitempty"`
	IdentityReference Raw    `json:"identityReference,omitempty"`
}

// UploadBatchServiceLogsResult is the answer of uploadBatchServiceLogs.
type UploadBatchServiceLogsResult struct {
	VirtualDirectoryName  string `json:"virtualDirectoryName"`
	NumberOfFilesUploaded int    `json:"numberOfFilesUploaded"`
}

// RemoteLoginSettings is the answer of computeNode getRemoteLoginSettings.
type RemoteLoginSettings struct {
	RemoteLoginIPAddress string `json:"remoteLoginIPAddress"`
	RemoteLoginPort      int    `json:"remoteLoginPort"`
}

// ImageReference names a VM image (Azure Marketplace style).
type ImageReference struct {
	Publisher string `json:"publisher,omitempty"`
	Offer     string `json:"offer,omitempty"`
	SKU       string `json:"sku,omitempty"`
	Version   string `json:"version,omitempty"`
}

// ImageInformation is one entry of account listSupportedImages.
type ImageInformation struct {
	NodeAgentSKUID   string         `json:"nodeAgentSKUId"`
	ImageReference   ImageReference `json:"imageReference"`
	OSType           string         `json:"osType"`
	Capabilities     []string       `json:"capabilities,omitempty"`
	VerificationType string         `json:"verificationType"`
}

// PoolUsageMetrics is one entry of pool listUsageMetrics: a pool's usage in
// one aggregation window.
type PoolUsageMetrics struct {
	PoolID         string  `json:"poolId"`
	StartTime      Time    `json:"startTime"`
	EndTime        Time    `json:"endTime"`
	VMSize         string  `json:"vmSize"`
	TotalCoreHours float64 `json:"totalCoreHours"`
}

// UsageStatistics is the usage part of pool lifetime statistics.
type UsageStatistics struct {
	StartTime         Time     `json:"startTime"`
	LastUpdateTime    Time     `json:"lastUpdateTime"`
	DedicatedCoreTime Duration `json:"dedicatedCoreTime"`
}

// ResourceStatistics is the resource part of pool lifetime statistics.
type ResourceStatistics struct {
	StartTime        Time    `json:"startTime"`
	LastUpdateTime   Time    `json:"lastUpdateTime"`
	AvgCPUPercentage float64 `json:"avgCPUPercentage"`
	AvgMemoryGiB     float64 `json:"avgMemoryGiB"`
	PeakMemoryGiB    float64 `json:"peakMemoryGiB"`
	AvgDiskGiB       float64 `json:"avgDiskGiB"`
	PeakDiskGiB      float64 `json:"peakDiskGiB"`
	DiskReadIOps     int64   `json:"diskReadIOps"`
	DiskWriteIOps    int64   `json:"diskWriteIOps"`
	DiskReadGiB      float64 `json:"diskReadGiB"`
	DiskWriteGiB     float64 `json:"diskWriteGiB"`
	NetworkReadGiB   float64 `json:"networkReadGiB"`
	NetworkWriteGiB  float64 `json:"networkWriteGiB"`
}

// PoolStatistics is the answer of pool getAllLifetimeStatistics.
type PoolStatistics struct {
	URL            string              `json:"url"`
	StartTime      Time                `json:"startTime"`
	LastUpdateTime Time                `json:"lastUpdateTime"`
	UsageStats     *UsageStatistics    `json:"usageStats,omitempty"`
	ResourceStats  *ResourceStatistics `json:"resourceStats,omitempty"`
}

// JobStatistics is the answer of job getAllLifetimeStatistics.
type JobStatistics struct {
	URL               string   `json:"url"`
	StartTime         Time     `json:"startTime"`
	LastUpdateTime    Time     `json:"lastUpdateTime"`
	UserCPUTime       Duration `json:"userCPUTime"`
	KernelCPUTime     Duration `json:"kernelCPUTime"`
	WallClockTime     Duration `json:"wallClockTime"`
	ReadIOps          int64    `json:"readIOps"`
	WriteIOps         int64    `json:"writeIOps"`
	ReadIOGiB         float64  `json:"readIOGiB"`
	WriteIOGiB        float64  `json:"writeIOGiB"`
	NumSucceededTasks int64    `json:"numSucceededTasks"`
	NumFailedTasks    int64    `json:"numFailedTasks"`
	NumTaskRetries    int64    `json:"numTaskRetries"`
	WaitTime          Duration `json:"waitTime"`
}

// NodeOption checks a node task option (nodeDisableSchedulingOption,
// nodeRebootOption, nodeReimageOption, nodeDeallocationOption) of property,
// case-insensitively, and returns it lower-cased; "" is requeue.
// allowRetained admits retaineddata (not a disable-scheduling option).
func NodeOption(property, v string, allowRetained bool) (string, error) {
	if v == "" {
		return "requeue", nil
	}
	allowed := []string{"requeue", "terminate", "taskcompletion"}
	if allowRetained {
		allowed = append(allowed, "retaineddata")
	}
	return enum(property, v, allowed...)
}

// ValidateNodeRemove checks a removeNodes body and normalises its option.
func ValidateNodeRemove(r *NodeRemove) error {
	switch {
	case r.NodeList == nil:
		return MissingProperty("nodeList")
	case len(r.NodeList) == 0:
		return InvalidProperty("nodeList", "must name at least one node")
	case len(r.NodeList) > MaxRemoveNodes:
		return InvalidProperty("nodeList", fmt.Sprintf("must name at most %d nodes", MaxRemoveNodes))
	}
	for _, id := range r.NodeList {
		if err := ValidID("nodeList", id); err != nil {
			return err
		}
	}
	if r.ResizeTimeout != nil && *r.ResizeTimeout < Duration(5*60e9) {
		return InvalidProperty("resizeTimeout", "must be at least 5 minutes")
	}
	opt, err := NodeOption("nodeDeallocationOption", r.NodeDeallocationOption, true)
	if err != nil {
		return err
	}
	r.NodeDeallocationOption = opt
	return nil
}

// ValidateUploadLogs checks an uploadBatchServiceLogs body.
func ValidateUploadLogs(u *UploadBatchServiceLogs) error {
	switch {
	case u.ContainerURL == "":
		return MissingProperty("containerUrl")
	case u.StartTime == nil:
		return MissingProperty("startTime")
	case u.EndTime != nil && u.EndTime.Before(u.StartTime.Time):
		return InvalidProperty("endTime", "must not be before startTime")
	}
	return nil
}
