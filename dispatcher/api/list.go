package api

import (
	"bytes"
	"encoding/json"
	"net/url"
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

// listed is one entity of a list: its sort key and its JSON.
type listed struct {
	key  string
	json []byte
}

// page renders a list response: $filter, $select, maxresults and
// $skiptoken applied, with an absolute odata.nextLink carrying every query
// parameter when more remain. items must be in key order.
func (s *Server) page(r *request, set string, items []listed, filterable []string) (*response, error) {
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
	max := 1000
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, (&batch.Error{Status: 400, Code: "OutOfRangeQueryParameterValue",
				Message: "One of the query parameters specified in the request URI is outside the permissible range."}).
				With("QueryParameterName", "maxresults").With("QueryParameterValue", v)
		}
		max = n
	}
	skip := q.Get("$skiptoken")
	var buf bytes.Buffer
	buf.WriteString(`{"odata.metadata":`)
	meta, _ := json.Marshal(r.base + "/$metadata#" + set)
	buf.Write(meta)
	buf.WriteString(`,"value":[`)
	n := 0
	last := ""
	more := false
	for _, it := range items {
		if skip != "" && it.key <= skip {
			continue
		}
		b := it.json
		if f != nil || sel != "" {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			if f != nil && !f.Match(m) {
				continue
			}
			if sel != "" {
				sm, err := odata.Select(m, sel)
				if err != nil {
					return nil, err
				}
				if b, err = json.Marshal(sm); err != nil {
					return nil, err
				}
			}
		}
		if n == max {
			more = true
			break
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
		n++
		last = it.key
	}
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
