package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/natch-io/natch/shared/batch"
)

// jsonContentType is the Content-Type of every JSON response, as Azure sends it.
const jsonContentType = "application/json;odata=minimalmetadata"

// response is an operation's result, independent of the transport.
type response struct {
	status       int
	body         []byte // JSON, or raw bytes when contentType is set
	contentType  string
	etag         string
	lastModified *batch.Time
	location     string // URL of a created or changed entity (DataServiceId)
	header       http.Header
}

func (r *response) setHeader(k, v string) {
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(k, v)
}

// withMetadata marshals v as a JSON object whose first property is
// "odata.metadata": meta.
func withMetadata(meta string, v any) ([]byte, error) {
	var b []byte
	var err error
	if a, ok := v.(interface{ AppendJSON([]byte) ([]byte, error) }); ok {
		b, err = a.AppendJSON(nil) // batch.Task: no reflection, same bytes
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return nil, err
	}
	return spliceMetadata(meta, b), nil
}

func spliceMetadata(meta string, obj []byte) []byte {
	if meta == "" || len(obj) < 2 || obj[0] != '{' {
		return obj
	}
	m, _ := json.Marshal(meta)
	var buf bytes.Buffer
	buf.Grow(len(obj) + len(m) + 20)
	buf.WriteString(`{"odata.metadata":`)
	buf.Write(m)
	if len(obj) > 2 {
		buf.WriteByte(',')
	}
	buf.Write(obj[1:])
	return buf.Bytes()
}

// errorBody renders an API error as Azure's BatchError JSON.
func errorBody(base string, e *batch.Error, requestID string, now time.Time) []byte {
	meta := ""
	if base != "" {
		meta = base + "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"
	}
	b, _ := json.Marshal(e.Wire(meta, requestID, now))
	return b
}

// httpDate formats a time as HTTP headers carry it.
func httpDate(t *batch.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(http.TimeFormat)
}

func itoa(i int) string { return strconv.Itoa(i) }
