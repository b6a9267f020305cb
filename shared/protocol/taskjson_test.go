package protocol_test

import (
	"testing"

	"github.com/natch-io/natch/shared/jsonfill"
	"github.com/natch-io/natch/shared/protocol"
)

func TestTaskMessageAppendJSONMatchesEncodingJSON(t *testing.T) {
	jsonfill.Check(t, 3000, 7, func(m *protocol.TaskMessage) ([]byte, error) { return m.AppendJSON(nil) })
}
