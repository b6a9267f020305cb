package odata

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// tree renders n fully parenthesized, to make precedence visible.
func tree(n node) string {
	switch x := n.(type) {
	case *logical:
		op := "and"
		if x.or {
			op = "or"
		}
		return "(" + tree(x.l) + " " + op + " " + tree(x.r) + ")"
	case *negation:
		return "(not " + tree(x.x) + ")"
	case *comparison:
		return "(" + tree(x.l) + " " + x.op + " " + tree(x.r) + ")"
	case *call:
		return x.fn + "(" + tree(x.args[0]) + "," + tree(x.args[1]) + ")"
	case *property:
		return x.path
	case *literal:
		return formatValue(x.v)
	case nil:
		return ""
	}
	return fmt.Sprintf("%T", n)
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter string
		tree   string // fully parenthesized
		str    string // String(), checked when set
	}{
		{name: "Empty", filter: "", tree: ""},
		{name: "Blank", filter: "  \t", tree: ""},
		{name: "Eq", filter: "state eq 'active'", tree: "(state eq 'active')", str: "state eq 'active'"},
		{name: "AllOperators", filter: "a eq 1 and b ne 2 and c gt 3 and d ge 4 and e lt 5 and f le 6",
			tree: "(((((" + "(a eq 1) and (b ne 2)) and (c gt 3)) and (d ge 4)) and (e lt 5)) and (f le 6))"},
		{name: "AndBindsTighterThanOr", filter: "a eq 1 or b eq 2 and c eq 3",
			tree: "((a eq 1) or ((b eq 2) and (c eq 3)))", str: "a eq 1 or b eq 2 and c eq 3"},
		{name: "NotBindsTighterThanAnd", filter: "not a eq 1 and b eq 2",
			tree: "((not (a eq 1)) and (b eq 2))", str: "not a eq 1 and b eq 2"},
		{name: "ParenthesesOverride", filter: "(a eq 1 or b eq 2) and c eq 3",
			tree: "(((a eq 1) or (b eq 2)) and (c eq 3))", str: "(a eq 1 or b eq 2) and c eq 3"},
		{name: "NotParenthesized", filter: "not (a eq 1 or b eq 2)",
			tree: "(not ((a eq 1) or (b eq 2)))", str: "not (a eq 1 or b eq 2)"},
		{name: "RightNestedSameOperator", filter: "a eq 1 or (b eq 2 or c eq 3)",
			tree: "((a eq 1) or ((b eq 2) or (c eq 3)))", str: "a eq 1 or (b eq 2 or c eq 3)"},
		{name: "RedundantParentheses", filter: "((state eq 'active'))", tree: "(state eq 'active')", str: "state eq 'active'"},
		{name: "KeywordsCaseInsensitive", filter: "State EQ 'Active' AND NOT x Ne NULL Or y eq TRUE",
			tree: "(((State eq 'Active') and (not (x ne null))) or (y eq true))"},
		{name: "QuotedQuote", filter: "id eq 'it''s'", tree: "(id eq 'it''s')", str: "id eq 'it''s'"},
		{name: "EmptyString", filter: "id eq ''", tree: "(id eq '')"},
		{name: "Numbers", filter: "a eq -3 or b eq 2.5 or c eq 1e3 or d eq -0.25",
			tree: "((((a eq -3) or (b eq 2.5)) or (c eq 1000)) or (d eq -0.25))"},
		{name: "NestedPaths", filter: "executionInfo/exitCode ne 0 and startTaskInfo/state eq 'completed'",
			tree: "((executionInfo/exitCode ne 0) and (startTaskInfo/state eq 'completed'))"},
		{name: "DatetimeLiteral", filter: "creationTime gt datetime'2024-01-02T03:04:05Z'",
			tree: "(creationTime gt datetime'2024-01-02T03:04:05Z')"},
		{name: "DatetimeCaseInsensitive", filter: "creationTime gt DateTime'2024-01-02T03:04:05.5+01:00'",
			tree: "(creationTime gt datetime'2024-01-02T03:04:05.5+01:00')"},
		{name: "BareTimestamp", filter: "stateTransitionTime le 2024-01-02T03:04:05.123Z",
			tree: "(stateTransitionTime le datetime'2024-01-02T03:04:05.123Z')"},
		{name: "BareDate", filter: "creationTime ge 2024-01-02", tree: "(creationTime ge datetime'2024-01-02T00:00:00Z')"},
		{name: "StartsWith", filter: "startswith(id,'job-')", tree: "startswith(id,'job-')", str: "startswith(id,'job-')"},
		{name: "StartsWithSpacesAndCase", filter: "StartsWith( id , 'job-' ) and state eq 'active'",
			tree: "(startswith(id,'job-') and (state eq 'active'))"},
		{name: "StartsWithEqTrue", filter: "startswith(name,'wd') eq true", tree: "(startswith(name,'wd') eq true)"},
		{name: "EndsWithContains", filter: "endswith(id,'-1') or contains(id,'x')",
			tree: "(endswith(id,'-1') or contains(id,'x'))"},
		{name: "SubstringOfSwapsArguments", filter: "substringof('x', id)", tree: "contains(id,'x')"},
		{name: "BareBooleans", filter: "isDedicated and not false", tree: "(isDedicated and (not false))"},
		{name: "PropertyOnBothSides", filter: "a lt b", tree: "(a lt b)"},
		{name: "NoSpacesAroundParens", filter: "(a eq 1)and(b eq 2)", tree: "((a eq 1) and (b eq 2))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.filter)
			require.NoError(t, err)
			require.Equal(t, tt.tree, tree(f.root))
			if tt.str != "" {
				require.Equal(t, tt.str, f.String())
			}
			again, err := Parse(f.String())
			require.NoError(t, err, "canonical form %q must parse", f.String())
			require.Equal(t, tt.tree, tree(again.root))
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter string
		reason string
	}{
		{name: "MissingOperator", filter: "state 'active'",
			reason: `at column 7: expected a comparison operator after "state", found "'active'"`},
		{name: "UnknownOperator", filter: "state is 'active'",
			reason: `at column 7: expected a comparison operator after "state", found "is"`},
		{name: "MissingRightOperand", filter: "state eq",
			reason: `at column 9: expected a property or value, found end of filter`},
		{name: "OperatorAsOperand", filter: "state eq and",
			reason: `at column 10: expected a property or value, found "and"`},
		{name: "UnterminatedString", filter: "id eq 'abc", reason: "at column 7: unterminated string literal"},
		{name: "DoubleQuotes", filter: `id eq "abc"`,
			reason: `at column 7: unexpected character '"'; strings are enclosed in single quotes`},
		{name: "UnclosedParen", filter: "(a eq 1 or b eq 2",
			reason: `at column 18: expected ')' to close the '(' at column 1, found end of filter`},
		{name: "StrayCloseParen", filter: "a eq 1)",
			reason: `at column 7: unexpected ")"; expected 'and', 'or' or end of filter`},
		{name: "TrailingAnd", filter: "a eq 1 and", reason: "at column 11: expected a property or value, found end of filter"},
		{name: "DanglingValue", filter: "a eq 1 2", reason: `at column 8: unexpected "2"; expected 'and', 'or' or end of filter`},
		{name: "ChainedComparison", filter: "a eq 1 eq 2", reason: `at column 8: unexpected "eq"; expected 'and', 'or' or end of filter`},
		{name: "BareString", filter: "'active'", reason: `at column 9: expected a comparison operator after "'active'", found end of filter`},
		{name: "BadNumber", filter: "a eq 12abc", reason: `at column 6: invalid number "12abc"`},
		{name: "BadDecimal", filter: "a eq 1.", reason: `at column 6: invalid number "1."`},
		{name: "NumberOutOfRange", filter: "a eq 1e999", reason: `at column 6: number "1e999" is out of range`},
		{name: "BadTimestamp", filter: "t gt 2024-13-02T03:04:05Z", reason: `at column 6: invalid timestamp "2024-13-02T03:04:05Z"`},
		{name: "BadDatetime", filter: "t gt datetime'yesterday'", reason: `at column 6: invalid datetime literal "datetime'yesterday'"`},
		{name: "BadPath", filter: "executionInfo/ eq 1", reason: `at column 1: invalid property path "executionInfo/"`},
		{name: "DoubleSlash", filter: "a//b eq 1", reason: `at column 1: invalid property path "a/"`},
		{name: "UnknownFunction", filter: "tolower(id) eq 'a'",
			reason: `at column 1: unknown function "tolower"; supported are startswith, endswith and contains`},
		{name: "OneArgument", filter: "startswith(id)", reason: `at column 14: expected ',' after the first argument of startswith, found ")"`},
		{name: "ThreeArguments", filter: "startswith(id,'a','b')",
			reason: `at column 18: startswith takes 2 arguments; expected ')', found ","`},
		{name: "NestedCall", filter: "startswith(endswith(id,'a'),'b')",
			reason: "at column 12: function arguments must be properties or values"},
		{name: "UnexpectedCharacter", filter: "a eq 1 && b eq 2", reason: `at column 8: unexpected character '&'`},
		{name: "ColumnCountsCharacters", filter: "id eq 'é' x", reason: `at column 11: unexpected "x"; expected 'and', 'or' or end of filter`},
		{name: "TooDeep", filter: strings.Repeat("(", maxDepth+1) + "a eq 1" + strings.Repeat(")", maxDepth+1),
			reason: "at column 101: filter is nested more than 100 levels deep"},
		{name: "TooManyNots", filter: strings.Repeat("not ", maxDepth) + "a",
			reason: "at column 401: filter is nested more than 100 levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.filter)
			require.Nil(t, f)
			requireInvalid(t, err, ParamFilter, tt.filter, tt.reason)
		})
	}
}

// requireInvalid checks err is the InvalidQueryParameterValue error for
// param=value with the given reason.
func requireInvalid(t *testing.T, err error, param, value, reason string) {
	t.Helper()
	require.ErrorIs(t, err, ErrInvalidQuery)
	var be *batch.Error
	require.True(t, errors.As(err, &be))
	require.Equal(t, 400, be.Status)
	require.Equal(t, "InvalidQueryParameterValue", be.Code)
	require.Equal(t, "The value for one of the query parameters specified in the request URI is invalid.", be.Message)
	require.Equal(t, []batch.KV{
		{Key: "QueryParameterName", Value: param},
		{Key: "QueryParameterValue", Value: value},
		{Key: "Reason", Value: reason},
	}, be.Values)
}

func TestProperties(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{name: "Empty", filter: "", want: nil},
		{name: "Literals", filter: "1 eq 1", want: nil},
		{name: "Dedup", filter: "state eq 'a' or state eq 'b'", want: []string{"state"}},
		{name: "OrderOfAppearance", filter: "not startswith(id,'x') and (executionInfo/exitCode gt 0 or b eq a)",
			want: []string{"id", "executionInfo/exitCode", "b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.filter)
			require.NoError(t, err)
			require.Equal(t, tt.want, f.Properties())
		})
	}
}

func TestAllow(t *testing.T) {
	t.Parallel()
	allowed := []string{"id", "state", "executionInfo/exitCode"}
	tests := []struct {
		name   string
		filter string
		reason string // "" means allowed
	}{
		{name: "Empty", filter: ""},
		{name: "AllAllowed", filter: "startswith(id,'a') and state eq 'active' or executionInfo/exitCode ne 0"},
		{name: "Unknown", filter: "state eq 'active' and priority gt 0",
			reason: `at column 23: property "priority" cannot be used in $filter`},
		{name: "CaseSensitive", filter: "State eq 'active'", reason: `at column 1: property "State" cannot be used in $filter`},
		{name: "ParentOfAllowedPath", filter: "executionInfo eq null",
			reason: `at column 1: property "executionInfo" cannot be used in $filter`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.filter)
			require.NoError(t, err)
			err = Allow(f, allowed...)
			if tt.reason == "" {
				require.NoError(t, err)
				return
			}
			requireInvalid(t, err, ParamFilter, tt.filter, tt.reason)
		})
	}
}

func TestNilFilter(t *testing.T) {
	t.Parallel()
	var f *Filter
	require.True(t, f.Match(map[string]any{"a": 1.0}))
	require.Empty(t, f.Properties())
	require.Empty(t, f.String())
	require.NoError(t, Allow(f))
	require.True(t, (&Filter{}).Match(nil))
}
