package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// Content types the official SDK sends (and signs) on every request: operations
// with a request-body model send the OData one even when the body is absent.
const (
	contentTypeModel = "application/json; odata=minimalmetadata; charset=utf-8"
	contentTypePlain = "application/json; charset=utf-8"
)

// ListOptions are the OData options of a list operation. A nil *ListOptions
// lists everything with the server's defaults.
type ListOptions struct {
	// Filter is an OData $filter, e.g. "state eq 'completed'".
	Filter string
	// Select is an OData $select, e.g. "id,state".
	Select string
	// Expand is an OData $expand, e.g. "stats".
	Expand string
	// MaxResults is the page size (maxresults, 1–1000). It bounds one
	// response, not the whole listing: the list methods follow
	// odata.nextLink until the last page. 0 leaves it to the server.
	MaxResults int
}

func (o *ListOptions) query() url.Values {
	if o == nil {
		return nil
	}
	q := url.Values{}
	if o.Filter != "" {
		q.Set("$filter", o.Filter)
	}
	if o.Select != "" {
		q.Set("$select", o.Select)
	}
	if o.Expand != "" {
		q.Set("$expand", o.Expand)
	}
	if o.MaxResults > 0 {
		q.Set("maxresults", strconv.Itoa(o.MaxResults))
	}
	if len(q) == 0 {
		return nil
	}
	return q
}

// call describes one API operation in the terms of both transports: the
// REST method and path, and the NATS API operation name and ids.
type call struct {
	op     string              // NATS API operation (protocol op name), e.g. "pool.get"
	method string              // REST method
	path   string              // REST path from the origin root, segments escaped
	ids    protocol.APIRequest // NATS path parameters (Query and Body are filled from query and body)
	query  url.Values          // OData options
	body   any                 // request body; nil for none
	model  bool                // the REST operation has a request-body model
	next   string              // an odata.nextLink to follow instead of path and query
}

// transport carries a call to the service and decodes the successful
// response into out (when out is non-nil and there is a body).
type transport interface {
	roundTrip(ctx context.Context, c *call, out any) error
}

// pathOf joins escaped path segments: pathOf("jobs", id) is "/jobs/<id>".
// Each segment is escaped whole, so a "/" inside one becomes %2F as the
// SDK's encodeURIComponent does.
func pathOf(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// page is one page of a list response.
type page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"odata.nextLink,omitempty"`
}

// iterate yields every item of a list, following odata.nextLink. It stops
// at the first error, which it yields with a zero item.
func iterate[T any](ctx context.Context, t transport, c call) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			var p page[T]
			if err := t.roundTrip(ctx, &c, &p); err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, v := range p.Value {
				if !yield(v, nil) {
					return
				}
			}
			if p.NextLink == "" {
				return
			}
			c.next = p.NextLink
		}
	}
}

// collect gathers an iterator into a slice, stopping at the first error.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	out := []T{}
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// get runs c and decodes the entity it returns.
func get[T any](ctx context.Context, t transport, c call) (*T, error) {
	var v T
	if err := t.roundTrip(ctx, &c, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// wireError is a BatchError body, tolerant of a message given as a plain
// string instead of Azure's {"lang","value"} object.
type wireError struct {
	Code    string          `json:"code"`
	Message json.RawMessage `json:"message"`
	Values  []batch.KV      `json:"values"`
}

// parseError turns an error response (status ≥ 400) into a *batch.Error:
// the code, the first line of message.value (Azure appends RequestId and
// Time lines), and the detail values. A body that is not a BatchError gives
// a code derived from the HTTP status and the body's first line.
func parseError(status int, body []byte) *batch.Error {
	e := &batch.Error{Status: status}
	var w wireError
	if json.Unmarshal(body, &w) == nil && w.Code != "" {
		e.Code = w.Code
		e.Values = w.Values
		var m batch.WireMessage
		var s string
		switch {
		case json.Unmarshal(w.Message, &m) == nil:
			e.Message = firstLine(m.Value)
		case json.Unmarshal(w.Message, &s) == nil:
			e.Message = firstLine(s)
		}
		return e
	}
	e.Code = strings.ReplaceAll(http.StatusText(status), " ", "")
	if e.Code == "" {
		e.Code = "HTTP" + strconv.Itoa(status)
	}
	e.Message = firstLine(string(bytes.TrimSpace(body)))
	if e.Message == "" {
		e.Message = fmt.Sprintf("the service answered %d %s", status, http.StatusText(status))
	}
	return e
}

// fromWire converts a BatchError carried inside another body (a task add
// result, a submit error) into a *batch.Error.
func fromWire(status int, w *batch.WireError) *batch.Error {
	if w == nil {
		return nil
	}
	return &batch.Error{Status: status, Code: w.Code, Message: firstLine(w.Message.Value), Values: w.Values}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimRight(s, "\r")
}

// jsonMarshal is json.Marshal without HTML escaping, so that command lines
// with "&&" or ">" go on the wire as written, as JSON.stringify sends them.
func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
