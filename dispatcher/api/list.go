package api

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/natch-io/natch/dispatcher/odata"
	"github.com/natch-io/natch/shared/batch"
)

// Filterable properties per list, as Azure allows them.
var (
	poolFilterable = []string{"id", "displayName", "state", "stateTransitionTime", "allocationState",
		"allocationStateTransitionTime", "vmSize", "creationTime", "lastModified", "enableAutoScale",
		"targetDedicatedNodes", "currentDedicatedNodes", "targetLowPriorityNodes", "currentLowPriorityNodes", "taskSlotsPerNode"}
	jobFilterable = []string{"id", "displayName", "state", "stateTransitionTime", "previousState", "creationTime",
		"lastModified", "priority", "executionInfo/poolId", "executionInfo/startTime", "executionInfo/endTime",
		"executionInfo/terminateReason", "poolInfo/poolId", "onAllTasksComplete"}
	taskFilterable = []string{"id", "displayName", "state", "stateTransitionTime", "previousState", "creationTime",
		"lastModified", "commandLine", "requiredSlots", "executionInfo/startTime", "executionInfo/endTime",
		"executionInfo/exitCode", "executionInfo/result", "executionInfo/retryCount", "executionInfo/requeueCount",
		"executionInfo/failureInfo/code", "executionInfo/failureInfo/category", "nodeInfo/nodeId", "nodeInfo/poolId"}
	nodeFilterable = []string{"id", "state", "schedulingState", "stateTransitionTime", "lastBootTime", "allocationTime",
		"ipAddress", "isDedicated", "vmSize", "runningTasksCount", "totalTasksRun", "startTaskInfo/state",
		"startTaskInfo/result", "startTaskInfo/exitCode", "startTaskInfo/startTime", "startTaskInfo/endTime"}
)

// listed is one entity of a list: its continuation token (what $skiptoken
// carries to resume after it) and its JSON, and for a list read by a scan
// its id: a scan may yield an entity written again while it ran twice, and
// a page shows it once (where it first came, with its newest JSON).
type listed struct {
	token string
	json  []byte
	id    string
}

// source yields a list's entities in order, starting after the token
// after ("" = from the start), until yield returns false.
type source func(after string, yield func(listed) bool) error

// sliceSource serves a small list held in memory, in token order.
func sliceSource(items []listed) source {
	sort.Slice(items, func(i, j int) bool { return items[i].token < items[j].token })
	return func(after string, yield func(listed) bool) error {
		for _, it := range items {
			if after != "" && it.token <= after {
				continue
			}
			if !yield(it) {
				return nil
			}
		}
		return nil
	}
}

// page renders a list response: $filter, $select, maxresults and
// $skiptoken applied, with an absolute odata.nextLink carrying every query
// parameter when more remain. It reads from src only as far as the page
// needs (one entity past it, to know whether more remain).
func (s *Server) page(r *request, set string, filterable []string, src source) (*response, error) {
	q := r.query
	var f *odata.Filter
	if v := q.Get("$filter"); v != "" {
		var err error
		if f, err = odata.Parse(v); err != nil {
			return nil, err
		}
		if err := odata.Allow(f, filterable...); err != nil {
			return nil, err
		}
	}
	sel := q.Get("$select")
	if sel != "" {
		if _, err := odata.ParseSelect(sel); err != nil {
			return nil, err
		}
	}
	limit := 1000
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, (&batch.Error{Status: 400, Code: "OutOfRangeQueryParameterValue",
				Message: "One of the query parameters specified in the request URI is outside the permissible range."}).
				With("QueryParameterName", "maxresults").With("QueryParameterValue", v)
		}
		limit = n
	}
	var buf bytes.Buffer
	buf.WriteString(`{"odata.metadata":`)
	meta, _ := json.Marshal(r.base + "/$metadata#" + set)
	buf.Write(meta)
	buf.WriteString(`,"value":[`)
	var items [][]byte     // the page's entities
	at := map[string]int{} // entity id → index in items
	last := ""
	more := false
	var ferr error
	err := src(q.Get("$skiptoken"), func(it listed) bool {
		b := it.json
		if f != nil || sel != "" {
			var m map[string]any
			if ferr = json.Unmarshal(b, &m); ferr != nil {
				return false
			}
			if f != nil && !f.Match(m) {
				return true
			}
			if sel != "" {
				sm, err := odata.Select(m, sel)
				if err != nil {
					ferr = err
					return false
				}
				if b, ferr = json.Marshal(sm); ferr != nil {
					return false
				}
			}
		}
		if i, ok := at[it.id]; ok && it.id != "" {
			items[i], last = b, it.token // seen again: its newest state, where it first came
			return true
		}
		if len(items) == limit {
			more = true
			return false
		}
		if it.id != "" {
			at[it.id] = len(items)
		}
		items = append(items, b)
		last = it.token
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	buf.Write(bytes.Join(items, []byte{','}))
	buf.WriteByte(']')
	if more {
		next := url.Values{}
		for k, v := range q {
			if k != "$skiptoken" {
				next[k] = v
			}
		}
		next.Set("$skiptoken", last)
		link, _ := json.Marshal(r.base + r.path + "?" + next.Encode())
		buf.WriteString(`,"odata.nextLink":`)
		buf.Write(link)
	}
	buf.WriteByte('}')
	return &response{status: 200, body: buf.Bytes()}, nil
}

// entity marshals an entity with its odata.metadata.
func entity(base, set string, v any) ([]byte, error) {
	return withMetadata(base+"/$metadata#"+set+"/@Element", v)
}

func lower(s string) string { return strings.ToLower(s) }

// selectJSON applies $select to one entity's JSON.
func selectJSON(b []byte, sel string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	sm, err := odata.Select(m, sel)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sm)
}
