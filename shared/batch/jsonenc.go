package batch

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Encoding a task without reflection.
//
// A task record is encoded at least twice per task (when it is added and
// when it completes), and encoding/json spends most of that on reflection
// and on compacting what the timestamps' MarshalJSON returns: about ten
// times what this direct encoder takes. Its output is byte for byte what
// encoding/json writes (TestTaskAppendJSONMatchesEncodingJSON compares
// the two on tasks with every field set and unset); fields that are rare on
// the hot path (exit conditions, files, settings, dependencies, ...) are
// encoded by encoding/json and appended.

// AppendJSON appends t as encoding/json would encode it.
func (t *Task) AppendJSON(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, '{')
	b, err := t.AppendJSONFields(b)
	if err != nil {
		return nil, err
	}
	return CloseJSONObject(b, start), nil
}

// AppendJSONFields appends t's members, each after a comma, for types that
// embed a Task and add members of their own after it: the caller opens the
// object and closes it with CloseJSONObject.
func (t *Task) AppendJSONFields(b []byte) ([]byte, error) {
	var err error
	b = appendKey(b, "id")
	b = AppendJSONString(b, t.ID)
	b = appendStringField(b, "displayName", t.DisplayName)
	b = appendStringField(b, "url", t.URL)
	b = appendStringField(b, "eTag", t.ETag)
	b = appendTimeField(b, "lastModified", t.LastModified)
	b = appendTimeField(b, "creationTime", t.CreationTime)
	if b, err = AppendJSONMembers(b, JSONMember{"exitConditions", t.ExitConditions != nil, t.ExitConditions}); err != nil {
		return nil, err
	}
	b = appendStringField(b, "state", t.State)
	b = appendTimeField(b, "stateTransitionTime", t.StateTransitionTime)
	b = appendStringField(b, "previousState", t.PreviousState)
	b = appendTimeField(b, "previousStateTransitionTime", t.PreviousStateTransitionTime)
	b = appendKey(b, "commandLine")
	b = AppendJSONString(b, t.CommandLine)
	b, err = AppendJSONMembers(b,
		JSONMember{"containerSettings", len(t.ContainerSettings) > 0, t.ContainerSettings},
		JSONMember{"resourceFiles", len(t.ResourceFiles) > 0, t.ResourceFiles},
		JSONMember{"outputFiles", len(t.OutputFiles) > 0, t.OutputFiles},
		JSONMember{"environmentSettings", len(t.EnvironmentSettings) > 0, t.EnvironmentSettings},
		JSONMember{"affinityInfo", len(t.AffinityInfo) > 0, t.AffinityInfo})
	if err != nil {
		return nil, err
	}
	if c := t.Constraints; c != nil { // every added task has them (defaults)
		b = c.appendJSON(appendKey(b, "constraints"))
	}
	if t.RequiredSlots != nil {
		b = appendKey(b, "requiredSlots")
		b = strconv.AppendInt(b, int64(*t.RequiredSlots), 10)
	}
	if b, err = AppendJSONMembers(b, JSONMember{"userIdentity", len(t.UserIdentity) > 0, t.UserIdentity}); err != nil {
		return nil, err
	}
	if ei := t.ExecutionInfo; ei != nil {
		b = appendKey(b, "executionInfo")
		if b, err = ei.appendJSON(b); err != nil {
			return nil, err
		}
	}
	if ni := t.NodeInfo; ni != nil {
		b = appendKey(b, "nodeInfo")
		b = ni.appendJSON(b)
	}
	if b, err = AppendJSONMembers(b, JSONMember{"multiInstanceSettings", t.MultiInstanceSettings != nil, t.MultiInstanceSettings}); err != nil {
		return nil, err
	}
	if st := t.Stats; st != nil {
		b = appendKey(b, "stats")
		if b, err = st.appendJSON(b); err != nil {
			return nil, err
		}
	}
	return AppendJSONMembers(b,
		JSONMember{"dependsOn", t.DependsOn != nil, t.DependsOn},
		JSONMember{"applicationPackageReferences", len(t.ApplicationPackageReferences) > 0, t.ApplicationPackageReferences},
		JSONMember{"authenticationTokenSettings", t.AuthenticationTokenSettings != nil, t.AuthenticationTokenSettings},
		JSONMember{"natchWaitReason", t.WaitReason != nil, t.WaitReason})
}

// JSONMember is an omitempty member that a hand-written encoder leaves to
// encoding/json (AppendJSONMembers): one rarely set on the hot path.
type JSONMember struct {
	Name  string
	Set   bool // not empty: the member is written
	Value any
}

// AppendJSONMembers appends the members that are set, in order, each after
// a comma (see AppendJSONFields and CloseJSONObject).
func AppendJSONMembers(b []byte, members ...JSONMember) ([]byte, error) {
	var err error
	for _, m := range members {
		if m.Set {
			if b, err = appendMarshaled(b, m.Name, m.Value); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

func (c *TaskConstraints) appendJSON(b []byte) []byte {
	start := len(b)
	b = append(b, '{')
	// An ISO 8601 duration needs no escaping.
	if d := c.MaxWallClockTime; d != nil {
		b = append(d.append(append(appendKey(b, "maxWallClockTime"), '"')), '"')
	}
	if d := c.RetentionTime; d != nil {
		b = append(d.append(append(appendKey(b, "retentionTime"), '"')), '"')
	}
	if n := c.MaxTaskRetryCount; n != nil {
		b = strconv.AppendInt(appendKey(b, "maxTaskRetryCount"), int64(*n), 10)
	}
	return CloseJSONObject(b, start)
}

func (ei *TaskExecutionInformation) appendJSON(b []byte) ([]byte, error) {
	var err error
	start := len(b)
	b = append(b, '{')
	b = appendTimeField(b, "startTime", ei.StartTime)
	b = appendTimeField(b, "endTime", ei.EndTime)
	if ei.ExitCode != nil {
		b = strconv.AppendInt(appendKey(b, "exitCode"), int64(*ei.ExitCode), 10)
	}
	if len(ei.ContainerInfo) > 0 {
		if b, err = appendMarshaled(b, "containerInfo", ei.ContainerInfo); err != nil {
			return nil, err
		}
	}
	if fi := ei.FailureInfo; fi != nil {
		if b, err = fi.appendJSON(appendKey(b, "failureInfo")); err != nil {
			return nil, err
		}
	}
	b = strconv.AppendInt(appendKey(b, "retryCount"), int64(ei.RetryCount), 10)
	b = appendTimeField(b, "lastRetryTime", ei.LastRetryTime)
	b = strconv.AppendInt(appendKey(b, "requeueCount"), int64(ei.RequeueCount), 10)
	b = appendTimeField(b, "lastRequeueTime", ei.LastRequeueTime)
	b = appendStringField(b, "result", ei.Result)
	return CloseJSONObject(b, start), nil
}

func (fi *TaskFailureInformation) appendJSON(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, '{')
	b = AppendJSONString(appendKey(b, "category"), fi.Category)
	b = appendStringField(b, "code", fi.Code)
	b = appendStringField(b, "message", fi.Message)
	if len(fi.Details) > 0 {
		var err error
		if b, err = appendMarshaled(b, "details", fi.Details); err != nil {
			return nil, err
		}
	}
	return CloseJSONObject(b, start), nil
}

func (ni *ComputeNodeInformation) appendJSON(b []byte) []byte {
	start := len(b)
	b = append(b, '{')
	b = appendStringField(b, "affinityId", ni.AffinityID)
	b = appendStringField(b, "nodeUrl", ni.NodeURL)
	b = appendStringField(b, "poolId", ni.PoolID)
	b = appendStringField(b, "nodeId", ni.NodeID)
	b = appendStringField(b, "taskRootDirectory", ni.TaskRootDirectory)
	b = appendStringField(b, "taskRootDirectoryUrl", ni.TaskRootDirectoryURL)
	return CloseJSONObject(b, start)
}

func (st *TaskStatistics) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"url":`...)
	b = AppendJSONString(b, st.URL)
	b = append(b, `,"startTime":`...)
	b = st.StartTime.AppendJSON(b)
	b = append(b, `,"lastUpdateTime":`...)
	b = st.LastUpdateTime.AppendJSON(b)
	b = append(b, `,"userCPUTime":"`...)
	b = append(st.UserCPUTime.append(b), `","kernelCPUTime":"`...)
	b = append(st.KernelCPUTime.append(b), `","wallClockTime":"`...)
	b = append(st.WallClockTime.append(b), `","readIOps":`...)
	b = strconv.AppendInt(b, st.ReadIOps, 10)
	b = append(b, `,"writeIOps":`...)
	b = strconv.AppendInt(b, st.WriteIOps, 10)
	var err error
	if b, err = appendFloat(b, "readIOGiB", st.ReadIOGiB); err != nil {
		return nil, err
	}
	if b, err = appendFloat(b, "writeIOGiB", st.WriteIOGiB); err != nil {
		return nil, err
	}
	b = append(b, `,"waitTime":"`...)
	b = append(st.WaitTime.append(b), `"}`...)
	return b, nil
}

// AppendJSON appends the timestamp as MarshalJSON renders it.
func (t Time) AppendJSON(b []byte) []byte {
	u := t.UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		b = append(b, '"')
		b = u.AppendFormat(b, timeLayout)
		return append(b, '"')
	}
	hour, minute, sec := u.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, u.Nanosecond()/100, 7)
	return append(b, 'Z', '"')
}

// CloseJSONObject ends the object that starts at b[start] (its '{'), whose
// members were each written after a comma: it drops the first comma and
// appends the closing brace.
func CloseJSONObject(b []byte, start int) []byte {
	if len(b) > start+1 && b[start+1] == ',' {
		copy(b[start+1:], b[start+2:])
		b = b[:len(b)-1]
	}
	return append(b, '}')
}

// appendDigits appends v zero-padded to n digits.
func appendDigits(b []byte, v, n int) []byte {
	var buf [9]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:n]...)
}

// appendKey appends a comma and a member's name and colon. Every member
// is written after a comma; CloseJSONObject drops the first one.
func appendKey(b []byte, name string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendStringField appends an omitempty string member.
func appendStringField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return AppendJSONString(appendKey(b, name), v)
}

// appendTimeField appends an omitempty timestamp member.
func appendTimeField(b []byte, name string, t *Time) []byte {
	if t == nil {
		return b
	}
	return t.AppendJSON(appendKey(b, name))
}

// appendMarshaled appends a member encoded by encoding/json.
func appendMarshaled(b []byte, name string, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(appendKey(b, name), data...), nil
}

// appendFloat appends a float member as encoding/json does (through it,
// but for the usual zero).
func appendFloat(b []byte, name string, f float64) ([]byte, error) {
	b = appendKey(b, name)
	if f == 0 {
		return append(b, '0'), nil
	}
	data, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return append(b, data...), nil
}

// AppendJSONString appends s as a JSON string, as encoding/json writes it
// (HTML characters, U+2028 and U+2029 escaped, invalid UTF-8 replaced).
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			data, _ := json.Marshal(s) // a string never fails
			return append(b, data...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
