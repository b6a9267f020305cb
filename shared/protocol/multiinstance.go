package protocol

import (
	"strconv"
	"strings"
	"time"

	"github.com/natch-io/natch/shared/batch"
)

// Multi-instance (MPI) tasks.
//
// The dispatcher queues a multi-instance task like any other task: one
// ready message, which is instance 0, the primary. The worker that takes it
// publishes the ready messages of the subtasks (instances 1..n-1, subjects
// topology.SubtaskSubject) to the same pool queue, once per attempt. A
// worker that already holds an instance of the same attempt gives another
// one back (a Nak with a delay), so that each instance lands on a different
// node. The instances meet in a Rendezvous record (KV, compare-and-set) that
// lists the node of every instance; workers watch it, so nobody polls. Once
// every slot is taken, every instance runs the coordination command, then
// the primary runs the command line, and its end ends the subtasks. An
// instance that waits longer than its worker's rendezvous timeout leaves
// and gives its message back. An instance delivered to another node while
// its slot is taken in a started rendezvous (its node died) restarts the
// rendezvous as a new round: every instance stops what it runs and meets
// again.

// Rendezvous is where the instances of one attempt of a multi-instance task
// meet (bucket topology.RendezvousBucket, key topology.RendezvousKey). Its
// members are also the task's subtask information.
type Rendezvous struct {
	// Instances is the task's numberOfInstances.
	Instances int `json:"instances"`
	// Round grows each time the rendezvous restarts.
	Round int `json:"round"`
	// SubtasksQueued says the primary's worker published the subtasks'
	// ready messages.
	SubtasksQueued bool `json:"subtasksQueued,omitempty"`
	// Members are the instances by index (0 = primary); an empty NodeID is
	// a free slot.
	Members []Member `json:"members"`
	// Ended is set when the primary ended or the task was terminated: every
	// instance stops.
	Ended *time.Time `json:"ended,omitempty"`
	// Result is the primary's result, set with Ended when the primary ran,
	// so that a primary redelivered before its worker reported the result
	// reports it again instead of running again.
	Result *PrimaryResult `json:"result,omitempty"`
	// Waiting says why the last instance to give up gave up (for the
	// task's natchWaitReason): how many had joined, out of Instances.
	Waiting *RendezvousTimeout `json:"waiting,omitempty"`
}

// PrimaryResult is how the primary of an attempt ended.
type PrimaryResult struct {
	StartTime   time.Time                     `json:"startTime"`
	EndTime     time.Time                     `json:"endTime"`
	ExitCode    *int                          `json:"exitCode,omitempty"`
	FailureInfo *batch.TaskFailureInformation `json:"failureInfo,omitempty"`
}

// RendezvousTimeout records a rendezvous that did not fill in time.
type RendezvousTimeout struct {
	At     time.Time `json:"at"`
	Joined int       `json:"joined"`
}

// Member is one instance of a multi-instance task attempt.
type Member struct {
	NodeID    string `json:"nodeId,omitempty"`
	PoolID    string `json:"poolId,omitempty"`
	IPAddress string `json:"ipAddress,omitempty"`
	// TaskRootDir is the instance's task directory on its node.
	TaskRootDir string `json:"taskRootDir,omitempty"`
	// Coordinated says the instance's coordination command succeeded.
	Coordinated bool `json:"coordinated,omitempty"`
	// The instance's execution, as batch.SubtaskInformation reports it.
	State                       string                        `json:"state,omitempty"`
	StateTransitionTime         *batch.Time                   `json:"stateTransitionTime,omitempty"`
	PreviousState               string                        `json:"previousState,omitempty"`
	PreviousStateTransitionTime *batch.Time                   `json:"previousStateTransitionTime,omitempty"`
	StartTime                   *batch.Time                   `json:"startTime,omitempty"`
	EndTime                     *batch.Time                   `json:"endTime,omitempty"`
	ExitCode                    *int                          `json:"exitCode,omitempty"`
	FailureInfo                 *batch.TaskFailureInformation `json:"failureInfo,omitempty"`
	Result                      string                        `json:"result,omitempty"`
}

// NewRendezvous is the empty rendezvous of an attempt with n instances.
func NewRendezvous(n int) *Rendezvous {
	return &Rendezvous{Instances: n, Members: make([]Member, n)}
}

// Joined is how many slots are taken.
func (r *Rendezvous) Joined() int {
	n := 0
	for _, m := range r.Members {
		if m.NodeID != "" {
			n++
		}
	}
	return n
}

// Full reports whether every instance has a node.
func (r *Rendezvous) Full() bool { return r.Joined() == r.Instances }

// Holds reports whether instance i is held by node in round.
func (r *Rendezvous) Holds(i int, node string, round int) bool {
	return r.Round == round && i < len(r.Members) && r.Members[i].NodeID == node
}

// started reports whether any instance of the round got past the meeting.
func (r *Rendezvous) started() bool {
	for _, m := range r.Members {
		if m.State != "" {
			return true
		}
	}
	return false
}

// Join puts node into slot i and returns the round it joined. A slot held
// by the same node is kept. A slot held by another node means that node
// lost the instance (its message was redelivered here): the newcomer takes
// the slot, and if the round had started, the round restarts without
// anybody (every instance meets again). It reports whether r changed.
func (r *Rendezvous) Join(i int, m Member, now time.Time) (round int, changed bool) {
	if i < 0 || i >= len(r.Members) {
		return r.Round, false
	}
	cur := r.Members[i]
	if cur.NodeID == m.NodeID && cur.IPAddress == m.IPAddress {
		return r.Round, false
	}
	if cur.NodeID != "" && r.started() {
		r.Round++
		r.Members = make([]Member, r.Instances)
	}
	r.Members[i] = Member{NodeID: m.NodeID, PoolID: m.PoolID, IPAddress: m.IPAddress, TaskRootDir: m.TaskRootDir}
	r.setState(i, "", now)
	if r.Full() {
		r.Waiting = nil
	}
	return r.Round, true
}

// Leave frees slot i if node holds it in round, recording that the
// rendezvous timed out. It reports whether r changed.
func (r *Rendezvous) Leave(i int, node string, round int, now time.Time) bool {
	if !r.Holds(i, node, round) || r.started() {
		return false
	}
	r.Waiting = &RendezvousTimeout{At: now, Joined: r.Joined()}
	r.Members[i] = Member{}
	return true
}

// SetState moves instance i (held by node in round) to a subtask state. It
// reports whether r changed.
func (r *Rendezvous) SetState(i int, node string, round int, state string, now time.Time) bool {
	if !r.Holds(i, node, round) || r.Members[i].State == state || r.Members[i].State == batch.SubtaskCompleted {
		return false
	}
	r.setState(i, state, now)
	if state == batch.SubtaskPreparing {
		r.Members[i].StartTime = batch.At(now)
	}
	return true
}

func (r *Rendezvous) setState(i int, state string, now time.Time) {
	m := &r.Members[i]
	if m.State != "" || state != "" {
		m.PreviousState, m.PreviousStateTransitionTime = m.State, m.StateTransitionTime
	}
	m.State, m.StateTransitionTime = state, batch.At(now)
}

// Coordinated records the end of instance i's coordination command: exit
// code 0 makes it running, anything else completes it as failed.
func (r *Rendezvous) Coordinated(i int, node string, round int, exitCode *int, fi *batch.TaskFailureInformation, now time.Time) bool {
	if !r.Holds(i, node, round) || r.Members[i].State == batch.SubtaskCompleted {
		return false
	}
	m := &r.Members[i]
	m.ExitCode, m.FailureInfo = exitCode, fi
	if fi == nil && exitCode != nil && *exitCode == 0 {
		m.Coordinated = true
		r.setState(i, batch.SubtaskRunning, now)
		return true
	}
	m.Result, m.EndTime = batch.ResultFailure, batch.At(now)
	r.setState(i, batch.SubtaskCompleted, now)
	return true
}

// Complete ends instance i (held by node in round); result is success or
// failure.
func (r *Rendezvous) Complete(i int, node string, round int, result string, now time.Time) bool {
	if !r.Holds(i, node, round) || r.Members[i].State == batch.SubtaskCompleted {
		return false
	}
	r.Members[i].Result, r.Members[i].EndTime = result, batch.At(now)
	r.setState(i, batch.SubtaskCompleted, now)
	return true
}

// End marks the rendezvous ended: every instance stops. It reports
// whether r changed.
func (r *Rendezvous) End(now time.Time) bool {
	if r.Ended != nil {
		return false
	}
	r.Ended = &now
	return true
}

// Coordination says how the coordination commands of the round stand:
// done when every instance's succeeded; failed is the first instance whose
// failed (-1 if none).
func (r *Rendezvous) Coordination() (done bool, failed int) {
	done = r.Full()
	for i, m := range r.Members {
		if m.State == batch.SubtaskCompleted && !m.Coordinated {
			return false, i
		}
		done = done && m.Coordinated
	}
	return done, -1
}

// Hosts are the environment of a full rendezvous's instances: the IP
// addresses of the instances (primary first), and CCP_NODES.
type Hosts struct {
	HostList string // AZ_BATCH_HOST_LIST: "ip,ip"
	NodeList string // AZ_BATCH_NODE_LIST: "ip;ip"
	Master   string // AZ_BATCH_MASTER_NODE: "ip:port" of the primary
	CCPNodes string // CCP_NODES: "n ip 1 ip 1"
}

// MasterPort is the port of AZ_BATCH_MASTER_NODE (Azure reserves one on
// the primary's node for the task).
const MasterPort = 6000

// HostsOf renders the hosts of a full rendezvous.
func HostsOf(r *Rendezvous) Hosts {
	ips := make([]string, len(r.Members))
	ccp := []string{strconv.Itoa(len(r.Members))}
	for i, m := range r.Members {
		ips[i] = m.IPAddress
		ccp = append(ccp, m.IPAddress, "1")
	}
	h := Hosts{HostList: strings.Join(ips, ","), NodeList: strings.Join(ips, ";"), CCPNodes: strings.Join(ccp, " ")}
	if len(ips) > 0 {
		h.Master = ips[0] + ":" + strconv.Itoa(MasterPort)
	}
	return h
}

// Subtasks renders the subtasks (instances 1..n-1) of a rendezvous as
// listSubtasks reports them.
func (r *Rendezvous) Subtasks() []batch.SubtaskInformation {
	out := make([]batch.SubtaskInformation, 0, max(len(r.Members)-1, 0))
	for i := 1; i < len(r.Members); i++ {
		m := r.Members[i]
		if m.NodeID == "" {
			continue
		}
		s := batch.SubtaskInformation{ID: i, StartTime: m.StartTime, EndTime: m.EndTime, ExitCode: m.ExitCode,
			FailureInfo: m.FailureInfo, State: m.State, StateTransitionTime: m.StateTransitionTime,
			PreviousState: m.PreviousState, PreviousStateTransitionTime: m.PreviousStateTransitionTime, Result: m.Result,
			NodeInfo: &batch.ComputeNodeInformation{AffinityID: "TVM:" + m.NodeID, PoolID: m.PoolID, NodeID: m.NodeID,
				TaskRootDirectory: m.TaskRootDir}}
		if s.State == "" {
			s.State = batch.SubtaskPreparing
		}
		out = append(out, s)
	}
	return out
}
