package run

import (
	"slices"
	"testing"

	"github.com/google/shlex"
)

func TestSplitCommandLineMatchesShlex(t *testing.T) {
	lines := []string{"true", "  /bin/echo  a\tb\nc\r d  ", "", "   ", "sleep 0.5", "a=b c-d e_f ./x.sh --opt=1",
		`sh -c 'echo hi'`, `echo "a b"`, `echo a\ b`, "echo a #comment", "echo a#b", "ünï code", "ctl\x01char"}
	for _, line := range lines {
		want, werr := shlex.Split(line)
		got, gerr := splitCommandLine(line)
		if (werr == nil) != (gerr == nil) || !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%q: got %q (%v), want %q (%v)", line, got, gerr, want, werr)
		}
	}
}
