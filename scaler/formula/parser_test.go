package formula

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		stmts int
	}{
		{name: "Single", src: "$TargetDedicatedNodes = 0", stmts: 1},
		{name: "TrailingSemicolon", src: "$TargetDedicatedNodes = 0;", stmts: 1},
		{name: "NoSpaces", src: "$TargetDedicatedNodes=min(1,2);$NodeDeallocationOption=requeue;", stmts: 2},
		{name: "CommentsAndNewlines", src: "// first\r\na = 1; // trailing\n\n// last line comment", stmts: 1},
		{name: "CommentOnlyBetween", src: "a = 1;\n// nothing here\nb = 2", stmts: 2},
		{name: "BareExpression", src: "stop()", stmts: 1},
		{name: "DollarUserVariable", src: "$myVar = 1; myVar = 2", stmts: 2},
		{name: "Numbers", src: "a = 1.5 + .5 + 2. + 1e3 + 1E-2 + 2.5e+1", stmts: 1},
		{name: "String", src: `a = time("Mon, 15 Jun 2009 20:45:30 GMT")`, stmts: 1},
		{name: "EscapedQuote", src: `a = "say \"hi\" \\ bye"`, stmts: 1},
		{name: "MembersAnyCase", src: "a = time().Hour + time().weekday + time().YEAR", stmts: 1},
		{name: "MethodsAnyCase", src: "a = $pendingtasks.getsample(1)", stmts: 1},
		{name: "FunctionsAnyCase", src: "a = MAX(1, 2) + Avg(3)", stmts: 1},
		{name: "ExactlyMaxStatements", src: strings.Repeat("a=1;", MaxStatements), stmts: MaxStatements},
		{name: "ExactlyMaxLength", src: "a=1" + strings.Repeat(" ", MaxLength-3), stmts: 1},
		{name: "DeepButAllowed", src: "a = " + strings.Repeat("(", 50) + "1" + strings.Repeat(")", 50), stmts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.src)
			require.NoError(t, err)
			require.Equal(t, tt.stmts, f.Len())
			require.Equal(t, tt.src, f.Source())
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       string
		sentinel  error
		code      string
		line, col int
		msg       string // substring of Msg
	}{
		{name: "TooLong", src: strings.Repeat(" ", MaxLength+1), sentinel: ErrTooLong, code: CodeTooLong, msg: "8193 bytes"},
		{name: "TooManyStatements", src: strings.Repeat("a=1;", MaxStatements+1), sentinel: ErrTooManyStatements,
			code: CodeTooLong, line: 1, col: 4*MaxStatements + 1, msg: "more than 100 statements"},
		{name: "Empty", src: "", sentinel: ErrSyntax, code: CodeSyntaxError, line: 1, col: 1, msg: "no statements"},
		{name: "OnlyComment", src: "// nothing\n", sentinel: ErrSyntax, line: 2, col: 1, msg: "no statements"},
		{name: "EmptyStatement", src: "a = 1;;", sentinel: ErrSyntax, line: 1, col: 7, msg: "empty statement"},
		{name: "LeadingSemicolon", src: ";a = 1", sentinel: ErrSyntax, line: 1, col: 1, msg: "empty statement"},
		{name: "MissingSemicolon", src: "a = 1\nb = 2", sentinel: ErrSyntax, line: 2, col: 1, msg: `unexpected "b", expected ';'`},
		{name: "DanglingOperator", src: "a = 1 +\n  * 2", sentinel: ErrSyntax, line: 2, col: 3, msg: "unexpected '*', expected an expression"},
		{name: "MissingOperand", src: "a = ", sentinel: ErrSyntax, line: 1, col: 5, msg: "unexpected end of formula"},
		{name: "UnclosedParen", src: "a = (1 + 2", sentinel: ErrSyntax, line: 1, col: 11, msg: "expected ')'"},
		{name: "TernaryWithoutColon", src: "a = 1 ? 2", sentinel: ErrSyntax, line: 1, col: 10, msg: "expected ':'"},
		{name: "Modulo", src: "a = 7 % 2", sentinel: ErrSyntax, line: 1, col: 7, msg: "unexpected character '%'"},
		{name: "ColumnsCountCharacters", src: `a = "é" % 1`, sentinel: ErrSyntax, line: 1, col: 9, msg: "'%'"},
		{name: "SingleAmpersand", src: "a = 1 & 2", sentinel: ErrSyntax, line: 1, col: 7, msg: "'&'"},
		{name: "UnterminatedString", src: "a = \"abc", sentinel: ErrSyntax, line: 1, col: 5, msg: "unterminated string"},
		{name: "StringAcrossLines", src: "a = \"ab\nc\"", sentinel: ErrSyntax, line: 1, col: 5, msg: "unterminated string"},
		{name: "LoneDollar", src: "$ = 1", sentinel: ErrSyntax, line: 1, col: 1, msg: "'$'"},
		{name: "DollarDigit", src: "$1 = 1", sentinel: ErrSyntax, line: 1, col: 1, msg: "'$'"},
		{name: "UnknownFunction", src: "a = 1;\nb = foo(1)", sentinel: ErrSyntax, line: 2, col: 5, msg: `unknown function "foo"`},
		{name: "TooFewArguments", src: "a = percentile($x)", sentinel: ErrSyntax, line: 1, col: 5, msg: "percentile takes 2 argument(s), got 1"},
		{name: "TooManyArguments", src: "a = rand(1)", sentinel: ErrSyntax, line: 1, col: 5, msg: "rand takes 0 argument(s), got 1"},
		{name: "AggregateNeedsArgument", src: "a = avg()", sentinel: ErrSyntax, line: 1, col: 5, msg: "avg takes at least 1 argument(s), got 0"},
		{name: "TimeTakesOneArgument", src: `a = time("", "")`, sentinel: ErrSyntax, line: 1, col: 5, msg: "time takes 0 to 1"},
		{name: "AssignReadOnly", src: "$CPUPercent = 1", sentinel: ErrSyntax, line: 1, col: 1, msg: "$CPUPercent is a read-only service variable"},
		{name: "AssignReadOnlyAnyCase", src: "a=1;\n  $currentdedicatednodes = 1", sentinel: ErrSyntax, line: 2, col: 3, msg: "$CurrentDedicatedNodes is a read-only"},
		{name: "AssignConstant", src: "TimeInterval_Hour = 1", sentinel: ErrSyntax, line: 1, col: 1, msg: "predefined constant"},
		{name: "AssignDeallocationOption", src: "requeue = 1", sentinel: ErrSyntax, line: 1, col: 1, msg: "predefined constant"},
		{name: "MethodOnUserVariable", src: "a = b.GetSample(1)", sentinel: ErrSyntax, line: 1, col: 7, msg: "read-only service variable"},
		{name: "MethodOnSettable", src: "a = $TargetDedicatedNodes.Count()", sentinel: ErrSyntax, line: 1, col: 27, msg: "read-only service variable"},
		{name: "UnknownMethod", src: "a = $PendingTasks.Average()", sentinel: ErrSyntax, line: 1, col: 19, msg: `unknown method "Average"`},
		{name: "GetSampleWithoutArguments", src: "a = $PendingTasks.GetSample()", sentinel: ErrSyntax, line: 1, col: 19, msg: "GetSample takes 1 to 3 argument(s), got 0"},
		{name: "GetSampleFourArguments", src: "a = $PendingTasks.GetSample(1, 2, 3, 4)", sentinel: ErrSyntax, line: 1, col: 19, msg: "got 4"},
		{name: "CountWithArgument", src: "a = $PendingTasks.Count(1)", sentinel: ErrSyntax, line: 1, col: 19, msg: "Count takes 0"},
		{name: "UnknownMember", src: "a = time().fortnight", sentinel: ErrSyntax, line: 1, col: 12, msg: `unknown member "fortnight"`},
		{name: "MemberNeedsName", src: "a = time().", sentinel: ErrSyntax, line: 1, col: 12, msg: "expected identifier"},
		{name: "AssignToExpression", src: "(a) = 1", sentinel: ErrSyntax, line: 1, col: 5, msg: "unexpected '='"},
		{name: "DoubleAssign", src: "a = b = 1", sentinel: ErrSyntax, line: 1, col: 7, msg: "unexpected '='"},
		{name: "TooDeep", src: "a = " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), sentinel: ErrSyntax, msg: "nested more than"},
		{name: "TooDeepUnary", src: "a = " + strings.Repeat("-", 300) + "1", sentinel: ErrSyntax, msg: "nested more than"},
		{name: "NumberOutOfRange", src: "a = 1e999", sentinel: ErrSyntax, line: 1, col: 5, msg: "number out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.src)
			require.Nil(t, f)
			require.ErrorIs(t, err, tt.sentinel)
			var fe *Error
			require.ErrorAs(t, err, &fe)
			code := tt.code
			if code == "" {
				code = CodeSyntaxError
			}
			require.Equal(t, code, fe.Code)
			if tt.line != 0 {
				require.Equal(t, tt.line, fe.Line, "line")
				require.Equal(t, tt.col, fe.Col, "col")
			}
			require.Contains(t, fe.Msg, tt.msg)
		})
	}
}

func TestErrorRendering(t *testing.T) {
	t.Parallel()
	e := &Error{Code: CodeInsufficientSampleData, Line: 1, Col: 37, Err: ErrInsufficientSamples,
		Msg: "Insufficient data from data set: $CPUPercent wanted 10%, received 0%"}
	require.Equal(t, "Line 1, Col 37: Insufficient data from data set: $CPUPercent wanted 10%, received 0%", e.Error())
	require.Equal(t, "Autoscale evaluation failed due to insufficient sample data", e.Summary())
	require.ErrorIs(t, e, ErrInsufficientSamples)
	require.False(t, errors.Is(e, ErrSyntax))

	_, err := Parse(strings.Repeat("x", MaxLength+1))
	require.Equal(t, "The formula is 8193 bytes long; the maximum is 8192", err.Error())
	require.Equal(t, "The specified auto-scaling formula exceeds lengths limit.", err.(*Error).Summary())

	_, err = Parse("a = (")
	require.Equal(t, "The specified auto-scaling formula has a syntax error.", err.(*Error).Summary())
	require.Equal(t, "Autoscale evaluation failed", (&Error{Code: CodeEvaluationError}).Summary())
}

// TestPrecedence evaluates expressions whose value depends on precedence
// and associativity.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want string
	}{
		{"1 + 2 * 3", "7"},
		{"(1 + 2) * 3", "9"},
		{"10 - 4 - 3", "3"},     // left associative: (10-4)-3
		{"24 / 4 / 2", "3"},     // (24/4)/2
		{"2 * 3 / 4", "1.5"},    // (2*3)/4
		{"-2 * 3", "-6"},        // unary binds tighter than *
		{"- -2", "2"},           // unary is right associative
		{"-2 - -2", "0"},        // binary minus then unary minus
		{"!0 + 1", "2"},         // (!0)+1
		{"!(0 + 1)", "0"},       // parenthesised
		{"!!5", "1"},            // double negation
		{"1 + 1 == 2", "1"},     // arithmetic before comparison
		{"2 < 1 == 0", "1"},     // comparisons chain left: (2<1)==0
		{"1 < 2 && 3 < 4", "1"}, // comparison before &&
		{"1 || 0 && 0", "1"},    // && before ||: 1 || (0&&0)
		{"0 && 0 || 1", "1"},    // (0&&0) || 1
		{"0 || 1 ? 10 : 20", "10"},
		{"1 + 1 ? 10 : 20", "10"},
		{"0 ? 1 : 0 ? 2 : 3", "3"}, // ?: is right associative
		{"1 ? 0 ? 4 : 5 : 6", "5"},
		{"1 ? 2 : 3 + 10", "2"},                         // the else branch takes the whole sum
		{"-time(\"2026-03-04T10:00:00Z\").hour", "-10"}, // member access before unary minus
		{"2 * TimeInterval_Minute + TimeInterval_Second", "00:02:01"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			r := run(t, newEnv(), "x = "+tt.expr)
			require.Equal(t, tt.want, r.Vars["x"].String())
		})
	}
}

func TestPosition(t *testing.T) {
	t.Parallel()
	src := "ab\ncdé\r\nf"
	tests := []struct{ off, line, col int }{
		{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {5, 2, 3}, {7, 2, 4}, {9, 3, 1}, {10, 3, 2}, {99, 3, 2},
	}
	for _, tt := range tests {
		line, col := position(src, tt.off)
		require.Equal(t, [2]int{tt.line, tt.col}, [2]int{line, col}, "offset %d", tt.off)
	}
}
