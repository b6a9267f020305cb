package batch

import (
	"strconv"
	"strings"
)

// MultiInstanceSettings make a task a multi-instance (MPI) task: one
// primary and NumberOfInstances-1 subtasks that run at once on as many
// different nodes of a pool with inter-node communication. Every instance
// runs CoordinationCommandLine (after CommonResourceFiles are staged into
// AZ_BATCH_TASK_SHARED_DIR); then the primary runs the task's commandLine.
type MultiInstanceSettings struct {
	NumberOfInstances       *int           `json:"numberOfInstances,omitempty"`
	CoordinationCommandLine string         `json:"coordinationCommandLine,omitempty"`
	CommonResourceFiles     []ResourceFile `json:"commonResourceFiles,omitempty"`
}

// Instances is the task's instance count (numberOfInstances, default 1).
func (m *MultiInstanceSettings) Instances() int {
	if m == nil {
		return 1
	}
	return IntOr(m.NumberOfInstances, 1)
}

// MaxInstances is the most instances a multi-instance task may ask for:
// the largest pool with inter-node communication Azure allocates.
const MaxInstances = 100

// SubtaskInformation is one subtask of a multi-instance task
// (task listSubtasks).
type SubtaskInformation struct {
	ID                          int                     `json:"id"`
	NodeInfo                    *ComputeNodeInformation `json:"nodeInfo,omitempty"`
	StartTime                   *Time                   `json:"startTime,omitempty"`
	EndTime                     *Time                   `json:"endTime,omitempty"`
	ExitCode                    *int                    `json:"exitCode,omitempty"`
	ContainerInfo               Raw                     `json:"containerInfo,omitempty"`
	FailureInfo                 *TaskFailureInformation `json:"failureInfo,omitempty"`
	State                       string                  `json:"state,omitempty"` // preparing | running | completed
	StateTransitionTime         *Time                   `json:"stateTransitionTime,omitempty"`
	PreviousState               string                  `json:"previousState,omitempty"`
	PreviousStateTransitionTime *Time                   `json:"previousStateTransitionTime,omitempty"`
	Result                      string                  `json:"result,omitempty"` // success | failure
}

// SubtaskStates: a subtask is preparing while its node stages the common
// resource files and runs the coordination command, running once that
// succeeded (until the primary ends), and completed.
const (
	SubtaskPreparing = "preparing"
	SubtaskRunning   = "running"
	SubtaskCompleted = "completed"
)

// validMultiInstance checks a task's multiInstanceSettings and fills the
// default instance count. Azure allows a multi-instance task one slot only.
func validMultiInstance(t *Task) error {
	m := t.MultiInstanceSettings
	if m == nil {
		return nil
	}
	if m.NumberOfInstances == nil {
		m.NumberOfInstances = Int(1)
	}
	if n := *m.NumberOfInstances; n < 1 || n > MaxInstances {
		return InvalidProperty("multiInstanceSettings.numberOfInstances",
			"must be between 1 and "+strconv.Itoa(MaxInstances))
	}
	if strings.TrimSpace(m.CoordinationCommandLine) == "" {
		return MissingProperty("multiInstanceSettings.coordinationCommandLine")
	}
	if t.RequiredSlots != nil && *t.RequiredSlots != 1 {
		return InvalidProperty("requiredSlots", "a multi-instance task must have requiredSlots 1")
	}
	for i, rf := range m.CommonResourceFiles {
		if err := ValidateResourceFile("multiInstanceSettings.commonResourceFiles["+strconv.Itoa(i)+"]", rf); err != nil {
			return err
		}
	}
	return nil
}

// ValidateMultiInstancePool checks that a pool can run a task's
// instances: multi-instance tasks need enableInterNodeCommunication.
func ValidateMultiInstancePool(t *Task, p *Pool) error {
	if t.MultiInstanceSettings == nil || p == nil {
		return nil
	}
	if p.EnableInterNodeCommunication == nil || !*p.EnableInterNodeCommunication {
		return InvalidProperty("multiInstanceSettings",
			"the job's pool "+p.ID+" does not have enableInterNodeCommunication set; multi-instance tasks need it")
	}
	return nil
}
