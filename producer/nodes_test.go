package producer

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

func TestClientNodeOperationsWire(t *testing.T) {
	t.Parallel()
	rs := newRecordingServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		switch {
		case strings.HasSuffix(r.URL.Path, "scheduling"):
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	c := newClient(t, rs.URL)
	ctx := context.Background()
	require.NoError(t, c.DisableNodeScheduling(ctx, "pool1", "node1", "taskcompletion"))
	require.NoError(t, c.EnableNodeScheduling(ctx, "pool1", "node1"))
	require.NoError(t, c.RebootNode(ctx, "pool1", "node1", "terminate"))
	require.NoError(t, c.ReimageNode(ctx, "pool1", "node1", ""))
	require.NoError(t, c.RemoveNodes(ctx, "pool1", &batch.NodeRemove{NodeList: []string{"node1", "node2"}, NodeDeallocationOption: "requeue"}))
	require.NoError(t, c.StopResizePool(ctx, "pool1"))
	require.Error(t, c.RemoveNodes(ctx, "pool1", nil))

	want := []struct{ uri, body, contentType string }{
		{"/pools/pool1/nodes/node1/disablescheduling", `{"nodeDisableSchedulingOption":"taskcompletion"}`, contentTypeModel},
		{"/pools/pool1/nodes/node1/enablescheduling", ``, contentTypePlain},
		{"/pools/pool1/nodes/node1/reboot", `{"nodeRebootOption":"terminate"}`, contentTypeModel},
		{"/pools/pool1/nodes/node1/reimage", `{}`, contentTypeModel},
		{"/pools/pool1/removenodes", `{"nodeList":["node1","node2"],"nodeDeallocationOption":"requeue"}`, contentTypeModel},
		{"/pools/pool1/stopresize", ``, contentTypePlain},
	}
	reqs := rs.requests()
	require.Len(t, reqs, len(want))
	for i, w := range want {
		require.Equal(t, http.MethodPost, reqs[i].method)
		require.Equal(t, w.uri+"?api-version="+batch.APIVersion, reqs[i].rawURI)
		require.Equal(t, w.contentType, reqs[i].contentType, w.uri)
		if w.body == "" {
			require.Empty(t, reqs[i].body, w.uri)
		} else {
			require.JSONEq(t, w.body, string(reqs[i].body), w.uri)
		}
	}
}
