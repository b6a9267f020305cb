package protocol

import (
	"strconv"

	"github.com/natch-io/natch/shared/batch"
)

// AppendJSON appends the message as encoding/json would encode it, without
// reflection for the task (batch.Task.AppendJSON): the dispatcher encodes
// one for every attempt it queues.
func (m *TaskMessage) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"account":`...)
	b = batch.AppendJSONString(b, m.Account)
	b = append(b, `,"poolId":`...)
	b = batch.AppendJSONString(b, m.PoolID)
	b = append(b, `,"jobId":`...)
	b = batch.AppendJSONString(b, m.JobID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(m.Attempt), 10)
	b = append(b, `,"task":`...)
	b, err := m.Task.AppendJSON(b)
	if err != nil {
		return nil, err
	}
	b, err = batch.AppendJSONMembers(b,
		batch.JSONMember{Name: "jobEnvironment", Set: len(m.JobEnvironment) > 0, Value: m.JobEnvironment},
		batch.JSONMember{Name: "serviceEnvironment", Set: len(m.ServiceEnvironment) > 0, Value: m.ServiceEnvironment},
		batch.JSONMember{Name: "appPackages", Set: len(m.AppPackages) > 0, Value: m.AppPackages},
		batch.JSONMember{Name: "jobPreparation", Set: m.JobPreparation != nil, Value: m.JobPreparation})
	if err != nil {
		return nil, err
	}
	if m.Instance != 0 {
		b = append(b, `,"instance":`...)
		b = strconv.AppendInt(b, int64(m.Instance), 10)
	}
	return append(b, '}'), nil
}
