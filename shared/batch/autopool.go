package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// AutoPoolSpecification asks the service to create a pool for a job or a
// job schedule, and to delete it when the job or schedule ends.
type AutoPoolSpecification struct {
	// AutoPoolIDPrefix (at most 20 characters) starts the pool's id; a
	// unique suffix follows.
	AutoPoolIDPrefix string `json:"autoPoolIdPrefix,omitempty"`
	// PoolLifetimeOption is "job" (a pool per job) or "jobschedule" (one
	// pool for all the jobs of a schedule).
	PoolLifetimeOption string `json:"poolLifetimeOption"`
	// KeepAlive keeps the pool after its job or schedule ends.
	KeepAlive *bool `json:"keepAlive,omitempty"`
	// Pool is the pool to create.
	Pool *PoolSpecification `json:"pool,omitempty"`
}

// Pool lifetime options of an auto pool.
const (
	AutoPoolJob         = "job"
	AutoPoolJobSchedule = "jobschedule"
)

// PoolSpecification is the pool of an auto pool: a pool without an id.
type PoolSpecification struct {
	DisplayName                  string                        `json:"displayName,omitempty"`
	VMSize                       string                        `json:"vmSize,omitempty"`
	CloudServiceConfiguration    Raw                           `json:"cloudServiceConfiguration,omitempty"`
	VirtualMachineConfiguration  Raw                           `json:"virtualMachineConfiguration,omitempty"`
	TaskSlotsPerNode             *int                          `json:"taskSlotsPerNode,omitempty"`
	TaskSchedulingPolicy         *TaskSchedulingPolicy         `json:"taskSchedulingPolicy,omitempty"`
	ResizeTimeout                *Duration                     `json:"resizeTimeout,omitempty"`
	TargetDedicatedNodes         *int                          `json:"targetDedicatedNodes,omitempty"`
	TargetLowPriorityNodes       *int                          `json:"targetLowPriorityNodes,omitempty"`
	EnableAutoScale              *bool                         `json:"enableAutoScale,omitempty"`
	AutoScaleFormula             string                        `json:"autoScaleFormula,omitempty"`
	AutoScaleEvaluationInterval  *Duration                     `json:"autoScaleEvaluationInterval,omitempty"`
	EnableInterNodeCommunication *bool                         `json:"enableInterNodeCommunication,omitempty"`
	NetworkConfiguration         Raw                           `json:"networkConfiguration,omitempty"`
	StartTask                    *StartTask                    `json:"startTask,omitempty"`
	CertificateReferences        Raw                           `json:"certificateReferences,omitempty"`
	ApplicationPackageReferences []ApplicationPackageReference `json:"applicationPackageReferences,omitempty"`
	ApplicationLicenses          Raw                           `json:"applicationLicenses,omitempty"`
	UserAccounts                 Raw                           `json:"userAccounts,omitempty"`
	Metadata                     []NameValue                   `json:"metadata,omitempty"`
	MountConfiguration           Raw                           `json:"mountConfiguration,omitempty"`
	TargetNodeCommunicationMode  string                        `json:"targetNodeCommunicationMode,omitempty"`
}

// Pool returns the pool this specification describes, with the given id.
func (s *PoolSpecification) Pool(id string) Pool {
	return Pool{ID: id, DisplayName: s.DisplayName, VMSize: s.VMSize,
		CloudServiceConfiguration: s.CloudServiceConfiguration, VirtualMachineConfiguration: s.VirtualMachineConfiguration,
		TaskSlotsPerNode: s.TaskSlotsPerNode, TaskSchedulingPolicy: s.TaskSchedulingPolicy, ResizeTimeout: s.ResizeTimeout,
		TargetDedicatedNodes: s.TargetDedicatedNodes, TargetLowPriorityNodes: s.TargetLowPriorityNodes,
		EnableAutoScale: s.EnableAutoScale, AutoScaleFormula: s.AutoScaleFormula,
		AutoScaleEvaluationInterval: s.AutoScaleEvaluationInterval, EnableInterNodeCommunication: s.EnableInterNodeCommunication,
		NetworkConfiguration: s.NetworkConfiguration, StartTask: s.StartTask, CertificateReferences: s.CertificateReferences,
		ApplicationPackageReferences: s.ApplicationPackageReferences, ApplicationLicenses: s.ApplicationLicenses,
		UserAccounts: s.UserAccounts, Metadata: s.Metadata, MountConfiguration: s.MountConfiguration,
		TargetNodeCommunicationMode: s.TargetNodeCommunicationMode}
}

// KeepsPool reports whether the auto pool outlives its job or schedule.
func (a *AutoPoolSpecification) KeepsPool() bool { return a.KeepAlive != nil && *a.KeepAlive }

// AutoPoolID is the id of an auto pool: the prefix, "_" and a suffix of 32
// hex digits derived from seed, which names what the pool is for (so that
// creating it again, from another dispatcher, gives the same id).
func AutoPoolID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	suffix := strings.ToUpper(hex.EncodeToString(sum[:16]))
	if prefix == "" {
		return suffix
	}
	return prefix + "_" + suffix
}

// validPoolInfo checks a poolInfo: exactly one of poolId and
// autoPoolSpecification; inSchedule allows the jobschedule lifetime.
func validPoolInfo(property string, pi *PoolInformation, inSchedule bool) error {
	if pi == nil || (pi.PoolID == "" && pi.AutoPoolSpecification == nil) {
		return MissingProperty(property)
	}
	if pi.PoolID != "" && pi.AutoPoolSpecification != nil {
		return InvalidProperty(property, "give either poolId or autoPoolSpecification, not both")
	}
	if pi.PoolID != "" {
		return ValidID(property+".poolId", pi.PoolID)
	}
	a := pi.AutoPoolSpecification
	prop := property + ".autoPoolSpecification"
	if a.PoolLifetimeOption == "" {
		return MissingProperty(prop + ".poolLifetimeOption")
	}
	v, err := enum(prop+".poolLifetimeOption", a.PoolLifetimeOption, AutoPoolJob, AutoPoolJobSchedule)
	if err != nil {
		return err
	}
	if v == AutoPoolJobSchedule && !inSchedule {
		return InvalidProperty(prop+".poolLifetimeOption", "jobschedule applies only to the job specification of a job schedule")
	}
	a.PoolLifetimeOption = v
	if a.AutoPoolIDPrefix != "" {
		if len(a.AutoPoolIDPrefix) > 20 {
			return InvalidProperty(prop+".autoPoolIdPrefix", "may not be longer than 20 characters")
		}
		if err := ValidID(prop+".autoPoolIdPrefix", a.AutoPoolIDPrefix); err != nil {
			return err
		}
	}
	if a.Pool == nil {
		return MissingProperty(prop + ".pool")
	}
	p := a.Pool.Pool("auto-pool")
	if err := ValidatePoolAdd(&p); err != nil {
		return prefixProperty(prop+".pool", err)
	}
	return nil
}
