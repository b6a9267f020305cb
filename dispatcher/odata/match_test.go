package odata

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// taskJSON is a task as the API renders it.
const taskJSON = `{
  "odata.metadata": "https://acct.region.batch.azure.com/$metadata#tasks/@Element",
  "id": "task-it's-7",
  "displayName": "Render Frame",
  "state": "completed",
  "priority": 5,
  "weight": 2.5,
  "creationTime": "2016-11-19T00:05:27.2137716Z",
  "stateTransitionTime": "2016-11-19T00:06:00Z",
  "isDedicated": true,
  "isSpot": false,
  "schedulingError": null,
  "executionInfo": {
    "startTime": "2016-11-19T00:05:30.5Z",
    "endTime": "2016-11-19T00:06:00Z",
    "exitCode": 3,
    "retryCount": 0,
    "result": "failure"
  },
  "tags": ["a", "b"]
}`

func decodeTask(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(taskJSON), &m))
	return m
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter string
		want   bool
	}{
		{name: "Empty", filter: "", want: true},
		// Strings and enums.
		{name: "EnumEq", filter: "state eq 'completed'", want: true},
		{name: "EnumEqCaseInsensitive", filter: "state eq 'Completed'", want: true},
		{name: "EnumNe", filter: "state ne 'active'", want: true},
		{name: "EnumNeCaseInsensitive", filter: "state ne 'COMPLETED'", want: false},
		{name: "StringGt", filter: "state gt 'active'", want: true},
		{name: "StringLt", filter: "state lt 'active'", want: false},
		{name: "StringGeEqualFold", filter: "state ge 'COMPLETED' and state le 'COMPLETED'", want: true},
		{name: "StringOrderIsByteWise", filter: "displayName lt 'render'", want: true},
		{name: "QuotedQuote", filter: "id eq 'task-it''s-7'", want: true},
		{name: "StartsWith", filter: "startswith(id,'task-')", want: true},
		{name: "StartsWithCaseInsensitive", filter: "startswith(displayName,'render')", want: true},
		{name: "StartsWithNo", filter: "startswith(id,'job-')", want: false},
		{name: "StartsWithEqFalse", filter: "startswith(id,'job-') eq false", want: true},
		{name: "NotStartsWith", filter: "not startswith(id,'job-')", want: true},
		{name: "EndsWith", filter: "endswith(id,'-7')", want: true},
		{name: "Contains", filter: "contains(displayName,'FRAME')", want: true},
		{name: "SubstringOf", filter: "substringof('frame', displayName)", want: true},
		{name: "StartsWithNonString", filter: "startswith(priority,'5')", want: false},
		{name: "StartsWithMissing", filter: "startswith(nope,'x')", want: false},
		// Numbers.
		{name: "NumberEq", filter: "priority eq 5", want: true},
		{name: "NumberEqDecimal", filter: "priority eq 5.0", want: true},
		{name: "NumberNe", filter: "priority ne 5", want: false},
		{name: "NumberGt", filter: "priority gt 4", want: true},
		{name: "NumberGe", filter: "priority ge 5", want: true},
		{name: "NumberLt", filter: "priority lt 5", want: false},
		{name: "NumberLe", filter: "weight le 2.5", want: true},
		{name: "NegativeNumber", filter: "priority gt -1", want: true},
		{name: "NumberVsStringNeverEqual", filter: "priority eq '5'", want: false},
		{name: "NumberVsStringNe", filter: "priority ne '5'", want: true},
		{name: "NumberVsStringUnordered", filter: "priority gt '1'", want: false},
		// Nested paths.
		{name: "NestedExitCode", filter: "executionInfo/exitCode ne 0", want: true},
		{name: "NestedResult", filter: "executionInfo/result eq 'Failure'", want: true},
		{name: "PathThroughScalar", filter: "state/x eq null", want: true},
		{name: "PathThroughArray", filter: "tags/x eq 'a'", want: false},
		// Timestamps.
		{name: "DatetimeGt", filter: "creationTime gt datetime'2016-11-19T00:05:27Z'", want: true},
		{name: "DatetimeFractionMatters", filter: "creationTime gt datetime'2016-11-19T00:05:27.3Z'", want: false},
		{name: "DatetimeEqOtherOffset", filter: "stateTransitionTime eq datetime'2016-11-19T01:06:00+01:00'", want: true},
		{name: "BareTimestampLe", filter: "creationTime le 2016-11-19T00:05:27.2137716Z", want: true},
		{name: "BareTimestampLt", filter: "creationTime lt 2016-11-19T00:05:27.2137716Z", want: false},
		{name: "QuotedTimestampsCompareAsTimes", filter: "stateTransitionTime eq '2016-11-19T00:06:00.000Z'", want: true},
		{name: "BareDate", filter: "creationTime ge 2016-11-19 and creationTime lt 2016-11-20", want: true},
		{name: "TimesBothProperties", filter: "executionInfo/startTime lt executionInfo/endTime", want: true},
		{name: "TimeVsNonTimeString", filter: "state gt datetime'2016-01-01T00:00:00Z'", want: false},
		{name: "TimeVsNumber", filter: "priority ne 2016-01-01T00:00:00Z", want: true},
		// Booleans.
		{name: "BoolEq", filter: "isDedicated eq true", want: true},
		{name: "BoolNe", filter: "isSpot ne true", want: true},
		{name: "BoolUnordered", filter: "isDedicated gt false", want: false},
		{name: "BareBoolProperty", filter: "isDedicated", want: true},
		{name: "BareFalseProperty", filter: "isSpot", want: false},
		{name: "BareNonBoolProperty", filter: "state", want: false},
		{name: "NotBareBool", filter: "not isSpot", want: true},
		{name: "TrueLiteral", filter: "true", want: true},
		// Null and missing properties.
		{name: "MissingEqNull", filter: "nope eq null", want: true},
		{name: "MissingNeNull", filter: "nope ne null", want: false},
		{name: "MissingEqValue", filter: "nope eq 'x'", want: false},
		{name: "MissingNeValue", filter: "nope ne 'x'", want: false},
		{name: "MissingGt", filter: "nope gt 0", want: false},
		{name: "MissingLe", filter: "nope le 0", want: false},
		{name: "NullLeftSide", filter: "null eq nope", want: true},
		{name: "NotMissingEq", filter: "not (nope eq 'x')", want: true},
		{name: "JSONNullEqNull", filter: "schedulingError eq null", want: true},
		{name: "PresentNeNull", filter: "state ne null", want: true},
		{name: "PresentEqNull", filter: "state eq null", want: false},
		{name: "MissingNestedEqNull", filter: "executionInfo/failureInfo eq null", want: true},
		// Logic and precedence.
		{name: "And", filter: "state eq 'completed' and priority eq 5", want: true},
		{name: "AndFalse", filter: "state eq 'completed' and priority eq 6", want: false},
		{name: "Or", filter: "state eq 'active' or priority eq 5", want: true},
		{name: "OrFalse", filter: "state eq 'active' or priority eq 6", want: false},
		{name: "AndBeforeOr", filter: "priority eq 5 or state eq 'active' and priority eq 6", want: true},
		{name: "ParenthesesChangeIt", filter: "(priority eq 5 or state eq 'active') and priority eq 6", want: false},
		{name: "NotBeforeAnd", filter: "not state eq 'active' and priority eq 5", want: true},
		{name: "NotBeforeOr", filter: "not state eq 'completed' or priority eq 5", want: true},
		{name: "NotOfGroup", filter: "not (state eq 'completed' or priority eq 6)", want: false},
		{name: "DoubleNot", filter: "not not state eq 'completed'", want: true},
		{name: "KeywordsCaseInsensitive", filter: "State1 Eq NULL AND NOT (state EQ 'Active') OR FALSE", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.filter)
			require.NoError(t, err)
			require.Equal(t, tt.want, f.Match(decodeTask(t)))
			again, err := Parse(f.String())
			require.NoError(t, err)
			require.Equal(t, tt.want, again.Match(decodeTask(t)), "canonical form %q", f.String())
		})
	}
}

func TestMatchOtherNumberTypes(t *testing.T) {
	t.Parallel()
	f, err := Parse("a eq 1 and b eq 2 and c eq 3 and d eq 4.5 and e eq 5 and f eq 'x'")
	require.NoError(t, err)
	require.True(t, f.Match(map[string]any{
		"a": 1, "b": int64(2), "c": int32(3), "d": float32(4.5), "e": json.Number("5"), "f": json.Number("x"),
	}))
}

func TestMatchNilEntity(t *testing.T) {
	t.Parallel()
	f, err := Parse("a eq null and not (b gt 1)")
	require.NoError(t, err)
	require.True(t, f.Match(nil))
}
