package batch_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/jsonfill"
)

func TestTaskAppendJSONMatchesEncodingJSON(t *testing.T) {
	jsonfill.Check(t, 5000, 1, func(task *batch.Task) ([]byte, error) {
		b, err := task.AppendJSON([]byte("prefix"))
		return b[len("prefix"):], err
	})
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range append(jsonfill.Strings, "\x00", "a\u00a0b", "\u007f") {
		want, _ := json.Marshal(s)
		if got := batch.AppendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func BenchmarkTaskJSON(b *testing.B) {
	var task batch.Task
	jsonfill.Fill(&task, rand.New(rand.NewPCG(3, 4)), 0.3)
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf, _ = task.AppendJSON(buf[:0])
		}
	})
	b.Run("Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(&task)
		}
	})
}
