package odata

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// FuzzParse checks that Parse never panics, that every error is an
// InvalidQueryParameterValue with a Reason, and that a parsed filter's
// canonical form parses back to itself and evaluates without panicking.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", "state eq 'active'", "a eq 1 or b eq 2 and not c eq 3", "(a eq 1 or b eq 2) and c eq 3",
		"id eq 'it''s'", "creationTime gt datetime'2024-01-02T03:04:05Z'", "t le 2024-01-02T03:04:05.123Z",
		"startswith(id,'job-') eq true", "substringof('x', id)", "executionInfo/exitCode ne -1.5e3",
		"isDedicated and not false", "x eq null", "((((a", "'unterminated", "a eq 1e999", "é eq 'é'",
		"not not not a", "a eq 2024-01-02", "datetime'2024-01-02'", "startswith(a,b,c)",
	} {
		f.Add(seed)
	}
	var entity map[string]any
	require.NoError(f, json.Unmarshal([]byte(taskJSON), &entity))
	f.Fuzz(func(t *testing.T, filter string) {
		got, err := Parse(filter)
		if err != nil {
			var be *batch.Error
			require.True(t, errors.As(err, &be))
			require.Equal(t, "InvalidQueryParameterValue", be.Code)
			require.True(t, strings.HasPrefix(be.Value("Reason"), "at column "), be.Value("Reason"))
			require.Equal(t, filter, be.Value("QueryParameterValue"))
			return
		}
		got.Match(entity)
		got.Match(nil)
		props := got.Properties()
		require.NoError(t, Allow(got, props...))
		canon := got.String()
		again, err := Parse(canon)
		require.NoError(t, err, "canonical form %q of %q", canon, filter)
		require.Equal(t, canon, again.String())
		require.Equal(t, tree(got.root), tree(again.root))
		require.Equal(t, got.Match(entity), again.Match(entity))
		require.Equal(t, props, again.Properties())
	})
}

// FuzzSelect checks that ParseSelect never panics and that a selection only
// keeps properties the entity has.
func FuzzSelect(f *testing.F) {
	for _, seed := range []string{"", "*", "id,state", "executionInfo/exitCode", "a,,b", " id ", "a/*", "*/a"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, sel string) {
		var entity map[string]any
		require.NoError(t, json.Unmarshal([]byte(taskJSON), &entity))
		got, err := Select(entity, sel)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidQuery)
			return
		}
		for k := range got {
			require.Contains(t, entity, k)
		}
	})
}
