package protocol_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/natch-io/natch/shared/jsonfill"
	"github.com/natch-io/natch/shared/protocol"
)

func TestTaskMessageAppendJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 3000 {
		var m protocol.TaskMessage
		jsonfill.Fill(&m, r, []float64{0.1, 0.5, 0.9, 1}[i%4])
		want, err := json.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
