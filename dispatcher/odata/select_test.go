package odata

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSelect(t *testing.T) {
	t.Parallel()
	entity := func() map[string]any {
		return map[string]any{
			"odata.metadata": "https://acct/$metadata#jobs/@Element",
			"id":             "job-1",
			"state":          "active",
			"priority":       0.0,
			"executionInfo":  map[string]any{"poolId": "p", "startTime": "2016-11-19T00:05:27Z"},
			"metadata":       []any{map[string]any{"name": "a", "value": "1"}, "odd"},
		}
	}
	tests := []struct {
		name string
		sel  string
		want map[string]any
	}{
		{name: "Empty", sel: "", want: entity()},
		{name: "Blank", sel: " ", want: entity()},
		{name: "Star", sel: "*", want: entity()},
		{name: "TopLevel", sel: "id,state",
			want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element", "id": "job-1", "state": "active"}},
		{name: "SpacesAndDuplicates", sel: " id , id,priority ",
			want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element", "id": "job-1", "priority": 0.0}},
		{name: "CaseSensitive", sel: "ID,State", want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element"}},
		{name: "MissingPropertyOmitted", sel: "id,nope",
			want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element", "id": "job-1"}},
		{name: "WholeObject", sel: "executionInfo", want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element",
			"executionInfo": map[string]any{"poolId": "p", "startTime": "2016-11-19T00:05:27Z"}}},
		{name: "NestedPath", sel: "executionInfo/poolId", want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element",
			"executionInfo": map[string]any{"poolId": "p"}}},
		{name: "WholeWinsOverNested", sel: "executionInfo/poolId,executionInfo", want: map[string]any{
			"odata.metadata": "https://acct/$metadata#jobs/@Element",
			"executionInfo":  map[string]any{"poolId": "p", "startTime": "2016-11-19T00:05:27Z"}}},
		{name: "NestedStar", sel: "executionInfo/*", want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element",
			"executionInfo": map[string]any{"poolId": "p", "startTime": "2016-11-19T00:05:27Z"}}},
		{name: "NestedIntoArray", sel: "metadata/name", want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element",
			"metadata": []any{map[string]any{"name": "a"}, "odd"}}},
		{name: "NestedIntoScalarOmitted", sel: "id/x", want: map[string]any{"odata.metadata": "https://acct/$metadata#jobs/@Element"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := entity()
			got, err := Select(in, tt.sel)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, entity(), in, "input must not be modified")
		})
	}
}

func TestSelectWithoutMetadata(t *testing.T) {
	t.Parallel()
	got, err := Select(map[string]any{"id": "a", "state": "b"}, "state")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"state": "b"}, got)

	got, err = Select(nil, "state")
	require.NoError(t, err)
	require.Nil(t, got)
}

func TestSelectErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sel    string
		reason string
	}{
		{name: "EmptyItem", sel: "id,,state", reason: "at column 4: empty property name"},
		{name: "TrailingComma", sel: "id,", reason: "at column 4: empty property name"},
		{name: "LeadingComma", sel: ",id", reason: "at column 1: empty property name"},
		{name: "BadCharacter", sel: "id, st-ate", reason: `at column 5: invalid property name "st-ate"`},
		{name: "InnerSpace", sel: "id state", reason: `at column 1: invalid property name "id state"`},
		{name: "LeadingDigit", sel: "1d", reason: `at column 1: invalid property name "1d"`},
		{name: "EmptySegment", sel: "executionInfo//poolId", reason: `at column 1: invalid property name "executionInfo//poolId"`},
		{name: "TrailingSlash", sel: "executionInfo/", reason: `at column 1: invalid property name "executionInfo/"`},
		{name: "StarNotLast", sel: "*/id", reason: `at column 1: invalid property name "*/id"`},
		{name: "Quoted", sel: "'id'", reason: `at column 1: invalid property name "'id'"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Select(map[string]any{"id": "a"}, tt.sel)
			require.Nil(t, got)
			requireInvalid(t, err, ParamSelect, tt.sel, tt.reason)

			s, err := ParseSelect(tt.sel)
			require.Nil(t, s)
			requireInvalid(t, err, ParamSelect, tt.sel, tt.reason)
		})
	}
}

func TestSelectionReuse(t *testing.T) {
	t.Parallel()
	s, err := ParseSelect("id")
	require.NoError(t, err)
	for _, id := range []string{"a", "b"} {
		require.Equal(t, map[string]any{"id": id}, s.Apply(map[string]any{"id": id, "state": "x"}))
	}
	var none *Selection
	in := map[string]any{"id": "a"}
	require.Equal(t, in, none.Apply(in))
}
