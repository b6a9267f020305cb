package api

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// A scan may yield an entity written again while it ran twice: the page
// shows it once, where it first came, with its newest JSON, and the
// continuation token is past both.
func TestPageShowsARepeatedEntityOnce(t *testing.T) {
	t.Parallel()
	src := func(after string, yield func(listed) bool) error {
		for _, it := range []listed{
			{token: "1", json: []byte(`{"id":"t1","state":"running"}`), id: "t1"},
			{token: "2", json: []byte(`{"id":"t2","state":"active"}`), id: "t2"},
			{token: "3", json: []byte(`{"id":"t1","state":"completed"}`), id: "t1"},
			{token: "4", json: []byte(`{"id":"t3","state":"active"}`), id: "t3"},
		} {
			if it.token > after && !yield(it) {
				return nil
			}
		}
		return nil
	}
	s := &Server{}
	r := &request{query: url.Values{"maxresults": {"2"}}, base: "http://natch", path: "/jobs/j/tasks"}
	resp, err := s.page(r, "tasks", taskFilterable, src)
	require.NoError(t, err)
	var body struct {
		Value    []map[string]string `json:"value"`
		NextLink string              `json:"odata.nextLink"`
	}
	require.NoError(t, json.Unmarshal(resp.body, &body))
	require.Equal(t, []map[string]string{{"id": "t1", "state": "completed"}, {"id": "t2", "state": "active"}}, body.Value)
	next, err := url.Parse(body.NextLink)
	require.NoError(t, err)
	require.Equal(t, "3", next.Query().Get("$skiptoken"), "the next page starts after the repeat")
}
