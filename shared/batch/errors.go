package batch

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// KV is a key/value detail of an API error ("PropertyName": "id").
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Error is an API error. It renders as Azure Batch's error body:
//
//	{"odata.metadata":".../$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
//	 "code":"JobNotFound","message":{"lang":"en-US","value":"The specified job does not exist.\nRequestId:...\nTime:..."},
//	 "values":[{"key":"PropertyName","value":"id"}]}
type Error struct {
	Status  int    // HTTP status
	Code    string // stable Azure code, e.g. "JobNotFound"; never renamed
	Message string // first line of message.value
	Values  []KV   // detail key/values, e.g. the offending property
	Err     error  // cause: logged, never sent
}

// Error returns "Code: Message".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches any *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// With returns a copy of e with the detail key/value appended.
func (e *Error) With(key, value string) *Error {
	c := *e
	c.Values = append(append([]KV(nil), e.Values...), KV{key, value})
	return &c
}

// Value returns the detail value for key, or "".
func (e *Error) Value(key string) string {
	for _, kv := range e.Values {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// AsError returns err as an *Error: itself if it is one, else an
// InternalError wrapping it.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: "InternalError",
		Message: "Server encountered an internal error. Please try again after some time.", Err: err}
}

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for the codes callers branch on. Compare with errors.Is; they
// match any *Error of the same code.
var (
	ErrPoolNotFound = &Error{Status: 404, Code: "PoolNotFound", Message: "The specified pool does not exist."}
	ErrJobNotFound  = &Error{Status: 404, Code: "JobNotFound", Message: "The specified job does not exist."}
	ErrTaskNotFound = &Error{Status: 404, Code: "TaskNotFound", Message: "The specified task does not exist."}
	ErrNodeNotFound = &Error{Status: 404, Code: "NodeNotFound", Message: "The specified node does not exist."}
	ErrPoolExists   = &Error{Status: 409, Code: "PoolExists", Message: "The specified pool already exists."}
	ErrJobExists    = &Error{Status: 409, Code: "JobExists", Message: "The specified job already exists."}
	ErrTaskExists   = &Error{Status: 409, Code: "TaskExists", Message: "The specified task already exists."}
	ErrConflict     = &Error{Status: 409, Code: "OperationInvalidForCurrentState", Message: "The operation is not valid for the current state of the resource."}
)

// MissingProperty is the 400 MissingRequiredProperty error for a property.
func MissingProperty(name string) *Error {
	return (&Error{Status: 400, Code: "MissingRequiredProperty",
		Message: "A required property was not specified in the request body."}).With("PropertyName", name)
}

// InvalidProperty is the 400 InvalidPropertyValue error for a property.
func InvalidProperty(name, reason string) *Error {
	e := (&Error{Status: 400, Code: "InvalidPropertyValue",
		Message: "The value provided for one of the properties in the request body is invalid."}).With("PropertyName", name)
	if reason != "" {
		e = e.With("Reason", reason)
	}
	return e
}

// InvalidBody is the 400 InvalidRequestBody error, naming the property when known.
func InvalidBody(property, reason string) *Error {
	e := &Error{Status: 400, Code: "InvalidRequestBody",
		Message: "The specified Request Body is not syntactically valid."}
	if property != "" {
		e = e.With("PropertyName", property)
	}
	if reason != "" {
		e = e.With("Reason", reason)
	}
	return e
}

// Wire renders e as the JSON error body Azure sends: message.value carries
// the message, the request id and the time.
func (e *Error) Wire(metadata, requestID string, now time.Time) *WireError {
	return &WireError{
		Metadata: metadata,
		Code:     e.Code,
		Message: WireMessage{Lang: "en-US",
			Value: e.Message + "\nRequestId:" + requestID + "\nTime:" + now.UTC().Format(timeLayout)},
		Values: e.Values,
	}
}
