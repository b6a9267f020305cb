package formula

import (
	"errors"
	"strconv"
)

// Azure error codes carried by *Error. Callers turn an *Error into the API
// error (Parse) or the autoScaleRun.error (Eval) with this code.
const (
	// CodeSyntaxError is a formula that does not parse or names something
	// that does not exist (HTTP 400 when enabling or evaluating).
	CodeSyntaxError = "AutoScalingFormulaSyntaxError"
	// CodeTooLong is a formula over MaxLength bytes or MaxStatements
	// statements. The Batch SDKs spell the constant AutoScaleFormulaTooLong;
	// the REST error table says AutoScalingFormulaTooLong.
	CodeTooLong = "AutoScaleFormulaTooLong"
	// CodeInsufficientSampleData is a GetSample call that found fewer samples
	// than it asked for (autoScaleRun.error).
	CodeInsufficientSampleData = "InsufficientSampleData"
	// CodeEvaluationError is any other failure while evaluating: a type
	// error, an undefined variable, an out-of-range argument.
	CodeEvaluationError = "AutoScalingFormulaEvaluationError"
)

// Sentinels for the conditions callers branch on; an *Error unwraps to
// exactly one of them. Compare with errors.Is.
var (
	// ErrTooLong matches a formula longer than MaxLength bytes.
	ErrTooLong = errors.New("formula too long")
	// ErrTooManyStatements matches a formula with more than MaxStatements statements.
	ErrTooManyStatements = errors.New("formula has too many statements")
	// ErrSyntax matches every other Parse error.
	ErrSyntax = errors.New("formula syntax error")
	// ErrInsufficientSamples matches a GetSample call that found too few samples.
	ErrInsufficientSamples = errors.New("insufficient sample data")
	// ErrEvaluation matches every other Eval error.
	ErrEvaluation = errors.New("formula evaluation error")
)

// Error is a formula error with the position of its cause. Error() renders
// it the way Azure renders the detail value of an autoscale error:
// "Line 1, Col 37: Insufficient data from data set: $CPUPercent wanted 10%, received 0%".
type Error struct {
	Code string // Azure error code, one of the Code* constants
	Line int    // 1-based line of the cause; 0 when the error is about the whole formula
	Col  int    // 1-based column (in characters) of the cause; 0 with Line
	Msg  string // the cause, without the position
	Err  error  // the sentinel this error matches, e.g. ErrSyntax
}

// Error returns "Line L, Col C: Msg", or Msg when the error has no position.
func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return "Line " + strconv.Itoa(e.Line) + ", Col " + strconv.Itoa(e.Col) + ": " + e.Msg
}

// Unwrap returns the sentinel, so errors.Is(err, ErrSyntax) works.
func (e *Error) Unwrap() error { return e.Err }

// Summary returns Azure's one-line message for the error's code, the
// "message" of an autoScaleRun.error or of the 400 error body; Error() is
// then its detail value.
func (e *Error) Summary() string {
	switch e.Code {
	case CodeSyntaxError:
		return "The specified auto-scaling formula has a syntax error."
	case CodeTooLong:
		return "The specified auto-scaling formula exceeds lengths limit."
	case CodeInsufficientSampleData:
		return "Autoscale evaluation failed due to insufficient sample data"
	default:
		return "Autoscale evaluation failed"
	}
}

// errAt builds an *Error positioned at byte offset off of src.
func errAt(src string, off int, code string, sentinel error, msg string) *Error {
	line, col := position(src, off)
	return &Error{Code: code, Line: line, Col: col, Msg: msg, Err: sentinel}
}

// position converts a byte offset into a 1-based line and a 1-based column
// counted in characters (runes).
func position(src string, off int) (line, col int) {
	off = min(max(off, 0), len(src))
	line, col = 1, 1
	for _, r := range src[:off] {
		if r == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return line, col
}
