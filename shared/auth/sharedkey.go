// Package auth implements Azure Batch SharedKey request signing, byte for byte
// as the official @azure/batch SDK signs, and its verification on the server;
// and natch's short-lived bearer tokens.
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxClockSkew is how far a request's ocp-date may be from the server's clock.
// Azure allows 15 minutes; the SDK replays a signature for its retries over a
// few minutes, which this comfortably covers.
const MaxClockSkew = 15 * time.Minute

// Errors of Verify.
var (
	// ErrMalformed means the Authorization header is not "SharedKey account:signature".
	ErrMalformed = errors.New("authorization header is malformed")
	// ErrStale means ocp-date is missing, unparseable or outside MaxClockSkew.
	ErrStale = errors.New("request date is missing or outside the allowed clock skew")
	// ErrSignature means no key of the account produces the signature.
	ErrSignature = errors.New("signature does not match")
)

// standardHeaders are the headers whose values are signed, in order, after the verb.
var standardHeaders = [...]string{
	"Content-Encoding", "Content-Language", "Content-Length", "Content-MD5", "Content-Type",
	"Date", "If-Modified-Since", "If-Match", "If-None-Match", "If-Unmodified-Since", "Range",
}

// StringToSign builds the canonical string of a request. rawPath is the path
// as sent on the wire (still percent-encoded); the query is decoded.
func StringToSign(method string, h http.Header, account, rawPath, rawQuery string) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	for _, name := range standardHeaders {
		b.WriteString(h.Get(name))
		b.WriteByte('\n')
	}
	// Canonicalized ocp-* headers: lower-case names, sorted, empty values skipped.
	var names []string
	for name := range h {
		if l := strings.ToLower(name); strings.HasPrefix(l, "ocp-") && h.Get(name) != "" {
			names = append(names, l)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(n + ":" + h.Get(n) + "\n")
	}
	// Canonicalized resource: /account + raw path (with %27 as the SDK signs it) + sorted decoded query.
	if rawPath == "" {
		rawPath = "/"
	}
	b.WriteString("/" + account + strings.ReplaceAll(rawPath, "%27", "'"))
	q := firstValues(rawQuery)
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString("\n" + k + ":" + q[k])
	}
	return b.String()
}

// firstValues decodes a query string form-style (+ is a space) keeping the
// first value of each key, as the SDK's url-parse does.
func firstValues(raw string) map[string]string {
	out := map[string]string{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			dv = v
		}
		if _, seen := out[dk]; !seen {
			out[dk] = dv
		}
	}
	return out
}

// Signature is base64(HMAC-SHA256(key, stringToSign)).
func Signature(key []byte, stringToSign string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// DecodeKey decodes a base64 account key.
func DecodeKey(key string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return nil, fmt.Errorf("account key is not base64: %w", err)
	}
	return b, nil
}

// Sign signs req for account with key as @azure/batch 10.2.0 does: it sets
// ocp-date (unless present), Content-Type (unless present) and
// Authorization. bodyLen is the body's length in bytes, -1 for none.
func Sign(req *http.Request, account string, key []byte, bodyLen int64) {
	if req.Header.Get("ocp-date") == "" {
		req.Header.Set("ocp-date", time.Now().UTC().Format(http.TimeFormat))
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json; odata=minimalmetadata; charset=utf-8")
	}
	h := req.Header.Clone()
	switch {
	case bodyLen >= 0:
		h.Set("Content-Length", strconv.FormatInt(bodyLen, 10))
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		h.Set("Content-Length", "0")
		req.ContentLength = 0
	}
	rawPath := req.URL.EscapedPath()
	sts := StringToSign(req.Method, h, account, rawPath, req.URL.RawQuery)
	req.Header.Set("Authorization", "SharedKey "+account+":"+Signature(key, sts))
}

// ParseSharedKey splits "SharedKey account:signature".
func ParseSharedKey(authz string) (account, sig string, err error) {
	rest, ok := strings.CutPrefix(authz, "SharedKey ")
	if !ok {
		return "", "", ErrMalformed
	}
	account, sig, ok = strings.Cut(rest, ":")
	if !ok || account == "" || sig == "" {
		return "", "", ErrMalformed
	}
	return account, sig, nil
}

// Verify checks a SharedKey-signed request against the account's keys (any
// may match, so that a key can be regenerated without breaking the other).
// now is the server's clock.
func Verify(r *http.Request, account, sig string, keys [][]byte, now time.Time) error {
	date := r.Header.Get("ocp-date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	t, err := http.ParseTime(date)
	if err != nil || t.Sub(now).Abs() > MaxClockSkew {
		return ErrStale
	}
	h := r.Header.Clone()
	// Go moves Content-Length out of the header map: put the wire value back.
	// A body-less request may have signed "" or "0" (clients differ), so try both.
	h.Del("Content-Length")
	candidates := []http.Header{h}
	if r.ContentLength > 0 {
		h.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	} else {
		alt := h.Clone()
		alt.Set("Content-Length", "0")
		candidates = append(candidates, alt)
	}
	rawPath := r.URL.EscapedPath()
	if r.RequestURI != "" { // server side: the path exactly as it came on the wire
		rawPath, _, _ = strings.Cut(r.RequestURI, "?")
	}
	want, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrSignature
	}
	for _, c := range candidates {
		sts := StringToSign(r.Method, c, account, rawPath, r.URL.RawQuery)
		for _, k := range keys {
			m := hmac.New(sha256.New, k)
			m.Write([]byte(sts))
			if hmac.Equal(m.Sum(nil), want) {
				return nil
			}
		}
	}
	return ErrSignature
}
