package blob

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
)

// HTTP fetches httpUrl resource files: one GET of any http(s) URL, such as
// a blob URL with a SAS token. It is read only.
type HTTP struct {
	client *http.Client
	cfg    Config
	log    *slog.Logger
}

// NewHTTP returns an HTTP getter using cfg.HTTPClient.
func NewHTTP(cfg Config) *HTTP {
	cfg = cfg.withDefaults()
	return &HTTP{client: cfg.HTTPClient, cfg: cfg, log: cfg.Logger.With("component", "blob", "backend", "http")}
}

// Get GETs rawURL, an absolute http or https URL. Status 404 and 410 are
// ErrNotFound; 401 and 403 are ErrAccessDenied; any other status but 200 is
// an error. The body is verified against Content-Length and Content-MD5 when
// the response has them (ErrChecksumMismatch). Reading is bound to ctx (and
// cfg.TransferTimeout when ctx has no deadline); the caller must Close the
// reader. Props.Name is empty.
func (h *HTTP) Get(ctx context.Context, rawURL string) (io.ReadCloser, Props, error) {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return nil, Props{}, fmt.Errorf("get %s: %w: %w", Redact(rawURL), ErrInvalidRef, redactErr(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, Props{}, fmt.Errorf("get %s: %w: scheme %q, want http or https", Redact(rawURL), ErrInvalidRef, u.Scheme)
	case u.Opaque != "" || u.Hostname() == "":
		return nil, Props{}, fmt.Errorf("get %s: %w: no host", Redact(rawURL), ErrInvalidRef)
	}
	shown := Redact(rawURL)
	tctx, cancel := transferCtx(ctx, h.cfg)
	req, err := http.NewRequestWithContext(tctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, Props{}, fmt.Errorf("get %s: %w", shown, redactErr(err))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		cancel()
		return nil, Props{}, fmt.Errorf("get %s: %w", shown, redactErr(err))
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		_ = resp.Body.Close()
		cancel()
		status := fmt.Errorf("HTTP %s", resp.Status)
		if code := resp.Header.Get("x-ms-error-code"); code != "" {
			status = fmt.Errorf("HTTP %s (%s)", resp.Status, code)
		}
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusGone:
			return nil, Props{}, fmt.Errorf("get %s: %w: %w", shown, ErrNotFound, status)
		case http.StatusUnauthorized, http.StatusForbidden:
			return nil, Props{}, fmt.Errorf("get %s: %w: %w", shown, ErrAccessDenied, status)
		}
		return nil, Props{}, fmt.Errorf("get %s: %w", shown, status)
	}
	p := Props{Size: resp.ContentLength, ETag: resp.Header.Get("ETag"), ContentType: resp.Header.Get("Content-Type")}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		p.LastModified = lm
	}
	if m := resp.Header.Get("Content-MD5"); m != "" {
		sum, err := base64.StdEncoding.DecodeString(m)
		if err != nil || len(sum) != 16 {
			_ = resp.Body.Close()
			cancel()
			return nil, Props{}, fmt.Errorf("get %s: malformed Content-MD5 %q", shown, m)
		}
		p.ContentMD5 = sum
	}
	h.log.DebugContext(ctx, "get url", "url", shown, "size", p.Size)
	// Content-Length and Content-MD5 describe the encoded body, which
	// net/http decodes itself when it asked for gzip (then Size is -1).
	wantMD5 := p.ContentMD5
	if resp.Uncompressed {
		wantMD5 = nil
	}
	body := &httpReader{rc: resp.Body, shown: shown}
	return &closeFunc{ReadCloser: verify(body, p.Size, wantMD5), done: cancel}, p, nil
}

// httpReader keeps SAS signatures out of body read errors.
type httpReader struct {
	rc    io.ReadCloser
	shown string
}

func (r *httpReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read %s: %w", r.shown, redactErr(err))
	}
	return n, err
}

func (r *httpReader) Close() error { return r.rc.Close() }
