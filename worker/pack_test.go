package worker_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/protocol"
)

// TestPackFillsOneNodeFirst: with nodeFillType pack, tasks that arrive one
// after the other go to the node that already runs tasks while it has a
// free slot, not to the idle one.
func TestPackFillsOneNodeFirst(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 3, pack: true})
	b.startNodes(t, 2, time.Minute)
	nodes := map[string]int{}
	for i := range 3 {
		id := "p" + strconv.Itoa(i)
		b.publish(t, task(id, "sleep 3"))
		ev := b.event(t, protocol.EventRunning, id)
		nodes[ev.NodeID]++
		time.Sleep(100 * time.Millisecond) // the busy node's next pull request is on the server
	}
	require.Len(t, nodes, 1, "all three tasks on one node: %v", nodes)
	// The fourth finds that node full and goes to the other one.
	b.publish(t, task("p3", "sleep 3"))
	ev := b.event(t, protocol.EventRunning, "p3")
	require.Zero(t, nodes[ev.NodeID], "the fourth task goes to the other node")
}
