package protocol

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

var t0 = time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)

// rv builds a rendezvous of n instances with the given nodes in its slots
// ("" = free) and states.
func rv(round int, nodes []string, states ...string) *Rendezvous {
	r := NewRendezvous(len(nodes))
	r.Round = round
	for i, n := range nodes {
		r.Members[i].NodeID = n
		r.Members[i].IPAddress = "10.0.0." + string(rune('1'+i))
		if i < len(states) {
			r.Members[i].State = states[i]
			r.Members[i].Coordinated = states[i] == batch.SubtaskRunning
		}
	}
	return r
}

func TestRendezvousJoin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		r           *Rendezvous
		inst        int
		node        string
		wantRound   int
		wantChanged bool
		wantNodes   []string
	}{
		{name: "FreeSlot", r: rv(0, []string{"", "", ""}), inst: 1, node: "b",
			wantRound: 0, wantChanged: true, wantNodes: []string{"", "b", ""}},
		{name: "SameNodeAgain", r: rv(0, []string{"a", "b", ""}), inst: 1, node: "b",
			wantRound: 0, wantNodes: []string{"a", "b", ""}},
		{name: "TakeOverBeforeStart", r: rv(0, []string{"a", "b", ""}), inst: 1, node: "c",
			wantRound: 0, wantChanged: true, wantNodes: []string{"a", "c", ""}},
		{name: "TakeOverAfterStartRestarts", r: rv(2, []string{"a", "b", "c"}, batch.SubtaskRunning, batch.SubtaskRunning, batch.SubtaskPreparing),
			inst: 1, node: "d", wantRound: 3, wantChanged: true, wantNodes: []string{"", "d", ""}},
		{name: "OutOfRange", r: rv(0, []string{"", ""}), inst: 2, node: "c", wantNodes: []string{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ip := "10.0.0." + string(rune('1'+tt.inst))
			round, changed := tt.r.Join(tt.inst, Member{NodeID: tt.node, IPAddress: ip}, t0)
			require.Equal(t, tt.wantRound, round)
			require.Equal(t, tt.wantChanged, changed)
			var nodes []string
			for _, m := range tt.r.Members {
				nodes = append(nodes, m.NodeID)
			}
			require.Equal(t, tt.wantNodes, nodes)
			if changed {
				require.True(t, tt.r.Holds(tt.inst, tt.node, round))
				require.Empty(t, tt.r.Members[tt.inst].State, "a newcomer has not started")
			}
		})
	}
}

func TestRendezvousJoinFillsClearsTimeout(t *testing.T) {
	t.Parallel()
	r := rv(0, []string{"a", ""})
	r.Waiting = &RendezvousTimeout{At: t0, Joined: 1}
	_, changed := r.Join(1, Member{NodeID: "b"}, t0)
	require.True(t, changed)
	require.True(t, r.Full())
	require.Nil(t, r.Waiting)
}

func TestRendezvousLeave(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		r         *Rendezvous
		inst      int
		node      string
		round     int
		wantLeft  bool
		wantJoint int
	}{
		{name: "Waiting", r: rv(0, []string{"a", "b", ""}), inst: 1, node: "b", wantLeft: true, wantJoint: 2},
		{name: "NotMine", r: rv(0, []string{"a", "c", ""}), inst: 1, node: "b"},
		{name: "OtherRound", r: rv(1, []string{"a", "b", ""}), inst: 1, node: "b", round: 0},
		{name: "Started", r: rv(0, []string{"a", "b"}, batch.SubtaskPreparing), inst: 1, node: "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			left := tt.r.Leave(tt.inst, tt.node, tt.round, t0)
			require.Equal(t, tt.wantLeft, left)
			if left {
				require.Empty(t, tt.r.Members[tt.inst].NodeID)
				require.Equal(t, &RendezvousTimeout{At: t0, Joined: tt.wantJoint}, tt.r.Waiting)
			} else {
				require.Nil(t, tt.r.Waiting)
			}
		})
	}
}

func TestRendezvousCoordination(t *testing.T) {
	t.Parallel()
	zero, three := 0, 3
	tests := []struct {
		name       string
		r          *Rendezvous
		reports    map[int]*int // instance → coordination exit code
		wantDone   bool
		wantFailed int
	}{
		{name: "NotFull", r: rv(0, []string{"a", ""}), reports: map[int]*int{0: &zero}, wantFailed: -1},
		{name: "Pending", r: rv(0, []string{"a", "b"}), reports: map[int]*int{0: &zero}, wantFailed: -1},
		{name: "AllSucceeded", r: rv(0, []string{"a", "b", "c"}), reports: map[int]*int{0: &zero, 1: &zero, 2: &zero},
			wantDone: true, wantFailed: -1},
		{name: "SubtaskFailed", r: rv(0, []string{"a", "b", "c"}), reports: map[int]*int{0: &zero, 2: &three}, wantFailed: 2},
		{name: "NeverStarted", r: rv(0, []string{"a", "b"}), reports: map[int]*int{0: &zero, 1: nil}, wantFailed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for i, code := range tt.reports {
				require.True(t, tt.r.SetState(i, tt.r.Members[i].NodeID, 0, batch.SubtaskPreparing, t0))
				require.True(t, tt.r.Coordinated(i, tt.r.Members[i].NodeID, 0, code, nil, t0.Add(time.Second)))
			}
			done, failed := tt.r.Coordination()
			require.Equal(t, tt.wantDone, done)
			require.Equal(t, tt.wantFailed, failed)
			for i, code := range tt.reports {
				m := tt.r.Members[i]
				require.Equal(t, batch.SubtaskPreparing, m.PreviousState)
				if code != nil && *code == 0 {
					require.Equal(t, batch.SubtaskRunning, m.State)
				} else {
					require.Equal(t, batch.SubtaskCompleted, m.State)
					require.Equal(t, batch.ResultFailure, m.Result)
				}
			}
		})
	}
}

func TestRendezvousCompleteAndEnd(t *testing.T) {
	t.Parallel()
	r := rv(0, []string{"a", "b"}, batch.SubtaskRunning, batch.SubtaskRunning)
	require.False(t, r.Complete(1, "a", 0, batch.ResultSuccess, t0), "only the holder completes an instance")
	require.True(t, r.Complete(1, "b", 0, batch.ResultSuccess, t0))
	require.False(t, r.Complete(1, "b", 0, batch.ResultFailure, t0), "completing twice changes nothing")
	require.Equal(t, batch.ResultSuccess, r.Members[1].Result)
	require.True(t, r.End(t0))
	require.False(t, r.End(t0.Add(time.Second)))
	require.Equal(t, t0, *r.Ended)
	// A late join changes nothing once the instance ended.
	require.False(t, r.SetState(1, "b", 0, batch.SubtaskRunning, t0))
}

func TestHostsAndSubtasks(t *testing.T) {
	t.Parallel()
	r := rv(0, []string{"a", "b", "c"}, batch.SubtaskRunning, batch.SubtaskRunning, "")
	h := HostsOf(r)
	require.Equal(t, Hosts{HostList: "10.0.0.1,10.0.0.2,10.0.0.3", NodeList: "10.0.0.1;10.0.0.2;10.0.0.3",
		Master: "10.0.0.1:6000", CCPNodes: "3 10.0.0.1 1 10.0.0.2 1 10.0.0.3 1"}, h)
	subs := r.Subtasks()
	require.Len(t, subs, 2, "the primary is not a subtask")
	require.Equal(t, 1, subs[0].ID)
	require.Equal(t, "b", subs[0].NodeInfo.NodeID)
	require.Equal(t, batch.SubtaskRunning, subs[0].State)
	require.Equal(t, batch.SubtaskPreparing, subs[1].State, "joined but not started shows as preparing")
}
