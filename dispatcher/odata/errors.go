package odata

import (
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/natch-io/natch/shared/batch"
)

// Query parameter names, as they appear in errors' QueryParameterName.
const (
	ParamFilter = "$filter" // the $filter query parameter
	ParamSelect = "$select" // the $select query parameter
)

// ErrInvalidQuery matches, with errors.Is, every error this package returns:
// Azure's 400 InvalidQueryParameterValue. The errors carry the detail values
// QueryParameterName, QueryParameterValue and Reason.
var ErrInvalidQuery = &batch.Error{Status: http.StatusBadRequest, Code: "InvalidQueryParameterValue",
	Message: "The value for one of the query parameters specified in the request URI is invalid."}

// syntaxError is a problem at a byte offset of a query option's value.
type syntaxError struct {
	pos int    // byte offset into the source
	msg string // what is wrong
}

// invalidQuery builds the InvalidQueryParameterValue error for param=value,
// placing reason at the (1-based, in characters) column of byte offset pos.
func invalidQuery(param, value string, pos int, reason string) *batch.Error {
	return ErrInvalidQuery.
		With("QueryParameterName", param).
		With("QueryParameterValue", value).
		With("Reason", fmt.Sprintf("at column %d: %s", column(value, pos), reason))
}

// column returns the 1-based column, counted in characters, of byte offset
// pos in src.
func column(src string, pos int) int {
	pos = min(max(pos, 0), len(src))
	return utf8.RuneCountInString(src[:pos]) + 1
}
