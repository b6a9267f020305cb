// Package portal is natch's web portal: a single-page application, embedded
// in the binary, that the dispatcher serves at /portal/ on the REST API's
// listener. The page talks only to the public Azure Batch REST API and signs
// every request in the browser (SharedKey, WebCrypto), so the server keeps
// no session and never sees the account key. See docs/portal.md.
package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the portal is served under.
const Prefix = "/portal/"

// ContentSecurityPolicy is the policy of every portal response: scripts,
// styles and API calls from the portal's own origin only, nothing inline,
// no plugins, no framing, no form posts.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// static holds the portal's files (go:embed needs a package variable; it is
// read-only).
//
//go:embed static
var static embed.FS

// contentType is the type of a portal file by its extension, set here
// rather than from the host's mime tables so that it does not vary; "" for
// a file that is not served.
func contentType(ext string) string {
	switch ext {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return ""
}

// asset is one embedded file, read once.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

// handler serves the embedded files.
type handler struct {
	assets map[string]asset // by path below Prefix; "" is index.html
}

// Handler returns the portal's handler. Mount it at Prefix and at the
// prefix without its slash (which redirects to Prefix). It serves GET and
// HEAD only; files are revalidated on every load (Cache-Control: no-cache,
// with a strong ETag), so a new binary's portal is picked up at once.
func Handler() http.Handler {
	h := &handler{assets: map[string]asset{}}
	// The embedded tree cannot fail to read: errors end the walk early,
	// which the handler test would see as missing files.
	_ = fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct := contentType(path.Ext(p))
		if ct == "" {
			return nil // not served
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h.assets[strings.TrimPrefix(p, "static/")] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, contentType: ct}
		return nil
	})
	h.assets[""] = h.assets["index.html"]
	return h
}

// ServeHTTP serves one file of the portal.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		if r.URL.Path+"/" == Prefix {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		http.NotFound(w, r)
		return
	}
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	hd.Set("Cache-Control", "no-cache")
	// ServeContent answers If-None-Match with 304, and ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
