package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

func TestCLINodes(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.ok(t, "pool", "create", "pool1", "--nodes", "3")
	for _, id := range []string{"n1", "n2", "n3"} {
		b.srv.AddNode("pool1", batch.ComputeNode{ID: id, State: batch.NodeIdle, SchedulingState: "enabled"})
	}
	// scheduling is a node's SCHEDULING column of `natch pool nodes`.
	scheduling := func(id string) string {
		for _, r := range fields(b.ok(t, "pool", "nodes", "pool1"))[1:] {
			if r[0] == id {
				return r[2]
			}
		}
		return ""
	}

	require.Equal(t, "disabled scheduling on node n1\ndisabled scheduling on node n2\n",
		b.ok(t, "node", "disable-scheduling", "pool1", "n1", "n2", "--option", "taskcompletion"))
	require.Equal(t, "disabled", scheduling("n1"))
	require.Equal(t, "disabled", scheduling("n2"))
	require.Equal(t, "enabled scheduling on node n2\n", b.ok(t, "node", "enable-scheduling", "pool1", "n2"))
	require.Equal(t, "enabled", scheduling("n2"))
	_, err := b.run(t, "node", "disable-scheduling", "pool1", "n1", "--option", "retaineddata")
	require.ErrorContains(t, err, "nodeDisableSchedulingOption")
	_, err = b.run(t, "node", "enable-scheduling", "pool1", "nope")
	require.ErrorContains(t, err, "NodeNotFound")

	require.Equal(t, "rebooting node n3\n", b.ok(t, "node", "reboot", "pool1", "n3", "--option", "terminate"))
	require.Equal(t, "reimaging node n3\n", b.ok(t, "node", "reimage", "pool1", "n3"))

	require.Equal(t, "removing node(s) n1, n3 from pool pool1\n", b.ok(t, "node", "remove", "pool1", "n1", "n3"))
	var nodes []batch.ComputeNode
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "pool", "nodes", "pool1", "-o", "json")), &nodes))
	require.Len(t, nodes, 1)
	require.Equal(t, "n2", nodes[0].ID)
	var p batch.Pool
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "pool", "show", "pool1", "-o", "json")), &p))
	require.Equal(t, 1, *p.TargetDedicatedNodes)

	b.ok(t, "pool", "resize", "pool1", "--nodes", "5")
	require.Equal(t, "stopping the resize of pool pool1\n", b.ok(t, "pool", "stop-resize", "pool1"))
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "pool", "show", "pool1", "-o", "json")), &p))
	require.Equal(t, batch.AllocSteady, p.AllocationState)
	require.Equal(t, 1, *p.TargetDedicatedNodes)
}
