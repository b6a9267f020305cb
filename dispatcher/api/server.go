// Package api is the dispatcher's transports: the Azure Batch REST API
// (SharedKey-signed HTTP, api-version 2022-10-01.16.0) and the same
// operations over NATS request/reply. Both turn a request into an op call
// on the service layer and render its result or error exactly as Azure does.
package api

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/dispatcher/metrics"
	"github.com/natch-io/natch/dispatcher/portal"
	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/batch"
)

// Config configures the API server.
type Config struct {
	// PublicURL is the origin clients reach the API at, used in url,
	// odata.metadata and odata.nextLink. Empty: taken from each request's Host.
	PublicURL string
	// NodeTimeout bounds a request to a node (files). Defaults to 10s.
	NodeTimeout time.Duration
	// Logger defaults to discard.
	Logger *slog.Logger
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Metrics records requests and serves /metrics; nil records nothing.
	Metrics *metrics.Metrics
}

// Server serves the API over HTTP and NATS.
type Server struct {
	cfg  Config
	svc  *service.Service
	nc   *nats.Conn
	log  *slog.Logger
	ops  map[string]opFunc
	mu   sync.Mutex
	keys map[string]cachedKeys // account → keys
}

type cachedKeys struct {
	keys [][]byte
	at   time.Time
}

// New builds an API server over the service. nc reaches the nodes (files).
func New(svc *service.Service, nc *nats.Conn, cfg Config) *Server {
	cfg.NodeTimeout = cmp.Or(cfg.NodeTimeout, 10*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Server{cfg: cfg, svc: svc, nc: nc, log: cfg.Logger.With("component", "api"), keys: map[string]cachedKeys{}}
	s.ops = s.operations()
	return s
}

// request is an operation's input, independent of the transport.
type request struct {
	account string
	op      string
	poolID  string
	nodeID  string
	jobID   string
	taskID  string
	file    string
	appID   string
	version string
	query   url.Values
	body    []byte
	cond    service.Condition
	base    string // origin for URLs
	path    string // request path, for nextLink
	header  http.Header
	w       http.ResponseWriter // set for streaming file downloads over HTTP
	stream  io.Reader           // the unread body of a streamed op over HTTP (streamedOps)
	// scheduleID is the job schedule of the path (jobScheduleId).
	scheduleID string
}

type opFunc func(ctx context.Context, r *request) (*response, error)

// route is a REST route: method + pattern → op.
type route struct{ method, pattern, op string }

// routes maps Azure Batch's REST paths to ops.
var routes = []route{
	{"POST", "/pools", "pool.add"},
	{"GET", "/pools", "pool.list"},
	{"GET", "/pools/{poolId}", "pool.get"},
	{"HEAD", "/pools/{poolId}", "pool.exists"},
	{"DELETE", "/pools/{poolId}", "pool.delete"},
	{"PATCH", "/pools/{poolId}", "pool.patch"},
	{"POST", "/pools/{poolId}/updateproperties", "pool.updateproperties"},
	{"POST", "/pools/{poolId}/resize", "pool.resize"},
	{"POST", "/pools/{poolId}/enableautoscale", "pool.enableautoscale"},
	{"POST", "/pools/{poolId}/disableautoscale", "pool.disableautoscale"},
	{"POST", "/pools/{poolId}/evaluateautoscale", "pool.evaluateautoscale"},
	{"GET", "/pools/{poolId}/nodes", "node.list"},
	{"GET", "/pools/{poolId}/nodes/{nodeId}", "node.get"},
	{"POST", "/pools/{poolId}/stopresize", "pool.stopresize"},
	{"POST", "/pools/{poolId}/removenodes", "pool.removenodes"},
	{"GET", "/poolusagemetrics", "pool.listusagemetrics"},
	{"GET", "/lifetimepoolstats", "pool.getalllifetimestatistics"},
	{"POST", "/pools/{poolId}/nodes/{nodeId}/disablescheduling", "node.disablescheduling"},
	{"POST", "/pools/{poolId}/nodes/{nodeId}/enablescheduling", "node.enablescheduling"},
	{"POST", "/pools/{poolId}/nodes/{nodeId}/reboot", "node.reboot"},
	{"POST", "/pools/{poolId}/nodes/{nodeId}/reimage", "node.reimage"},
	{"GET", "/pools/{poolId}/nodes/{nodeId}/remoteloginsettings", "node.getremoteloginsettings"},
	{"POST", "/pools/{poolId}/nodes/{nodeId}/uploadbatchservicelogs", "node.uploadbatchservicelogs"},
	{"POST", "/pools/{poolId}/nodes/{nodeId}/users", "node.adduser"},
	{"PUT", "/pools/{poolId}/nodes/{nodeId}/users/{userName}", "node.updateuser"},
	{"DELETE", "/pools/{poolId}/nodes/{nodeId}/users/{userName}", "node.deleteuser"},
	{"GET", "/pools/{poolId}/nodes/{nodeId}/files", "file.listfromcomputenode"},
	{"GET", "/pools/{poolId}/nodes/{nodeId}/files/{filePath}", "file.getfromcomputenode"},
	{"HEAD", "/pools/{poolId}/nodes/{nodeId}/files/{filePath}", "file.getpropertiesfromcomputenode"},
	{"DELETE", "/pools/{poolId}/nodes/{nodeId}/files/{filePath}", "file.deletefromcomputenode"},
	{"POST", "/pools/{poolId}/nodes/{nodeId}/natch-preempt", "node.preempt"},
	{"GET", "/nodecounts", "account.listpoolnodecounts"},
	{"GET", "/supportedimages", "account.listsupportedimages"},
	{"GET", "/lifetimejobstats", "job.getalllifetimestatistics"},
	{"POST", "/jobs", "job.add"},
	{"GET", "/jobs", "job.list"},
	{"GET", "/jobs/{jobId}", "job.get"},
	{"PATCH", "/jobs/{jobId}", "job.patch"},
	{"PUT", "/jobs/{jobId}", "job.update"},
	{"DELETE", "/jobs/{jobId}", "job.delete"},
	{"POST", "/jobs/{jobId}/terminate", "job.terminate"},
	{"POST", "/jobs/{jobId}/disable", "job.disable"},
	{"POST", "/jobs/{jobId}/enable", "job.enable"},
	{"GET", "/jobs/{jobId}/taskcounts", "job.taskcounts"},
	{"GET", "/jobs/{jobId}/jobpreparationandreleasetaskstatus", "job.listpreparationandreleasetaskstatus"},
	{"GET", "/jobs/{jobId}/submiterrors", "task.submiterrors"},
	{"POST", "/jobs/{jobId}/tasks", "task.add"},
	{"GET", "/jobs/{jobId}/tasks", "task.list"},
	{"POST", "/jobs/{jobId}/addtaskcollection", "task.addcollection"},
	{"GET", "/jobs/{jobId}/tasks/{taskId}", "task.get"},
	{"DELETE", "/jobs/{jobId}/tasks/{taskId}", "task.delete"},
	{"PUT", "/jobs/{jobId}/tasks/{taskId}", "task.update"},
	{"POST", "/jobs/{jobId}/tasks/{taskId}/terminate", "task.terminate"},
	{"POST", "/jobs/{jobId}/tasks/{taskId}/reactivate", "task.reactivate"},
	{"GET", "/jobs/{jobId}/tasks/{taskId}/subtasksinfo", "task.listsubtasks"},
	{"GET", "/jobs/{jobId}/tasks/{taskId}/files", "file.listfromtask"},
	{"GET", "/jobs/{jobId}/tasks/{taskId}/files/{filePath}", "file.getfromtask"},
	{"HEAD", "/jobs/{jobId}/tasks/{taskId}/files/{filePath}", "file.getpropertiesfromtask"},
	{"DELETE", "/jobs/{jobId}/tasks/{taskId}/files/{filePath}", "file.deletefromtask"},
	{"GET", "/applications", "application.list"},
	{"GET", "/applications/{applicationId}", "application.get"},
	{"PATCH", "/applications/{applicationId}", "application.patch"},
	{"DELETE", "/applications/{applicationId}", "application.delete"},
	{"GET", "/applications/{applicationId}/versions", "application.listversions"},
	{"PUT", "/applications/{applicationId}/versions/{version}", "application.publish"},
	{"DELETE", "/applications/{applicationId}/versions/{version}", "application.deleteversion"},
	{"POST", "/jobschedules", "jobschedule.add"},
	{"GET", "/jobschedules", "jobschedule.list"},
	{"GET", "/jobschedules/{jobScheduleId}", "jobschedule.get"},
	{"HEAD", "/jobschedules/{jobScheduleId}", "jobschedule.exists"},
	{"PATCH", "/jobschedules/{jobScheduleId}", "jobschedule.patch"},
	{"PUT", "/jobschedules/{jobScheduleId}", "jobschedule.update"},
	{"DELETE", "/jobschedules/{jobScheduleId}", "jobschedule.delete"},
	{"POST", "/jobschedules/{jobScheduleId}/disable", "jobschedule.disable"},
	{"POST", "/jobschedules/{jobScheduleId}/enable", "jobschedule.enable"},
	{"POST", "/jobschedules/{jobScheduleId}/terminate", "jobschedule.terminate"},
	{"GET", "/jobschedules/{jobScheduleId}/jobs", "job.listfromjobschedule"},
}

// Handler returns the REST API handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		op := rt.op
		mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) { s.serveHTTP(w, r, op) })
	}
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics.Handler())
	}
	// The web portal (static files; it calls this API from the browser).
	ph := portal.Handler()
	mux.Handle(portal.Prefix, ph)
	mux.Handle(strings.TrimSuffix(portal.Prefix, "/"), ph)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && r.Method == http.MethodGet && wantsHTML(r) {
			http.Redirect(w, r, portal.Prefix, http.StatusFound) // a browser at the root: open the portal
			return
		}
		s.writeError(w, r, s.baseURL(r), batch.Errorf(404, "ResourceNotFound", "The specified resource does not exist."))
	})
	return mux
}

// wantsHTML reports whether a request's Accept header names text/html, as a
// browser's navigation does (API clients ask for JSON or anything).
func wantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
			return true
		}
	}
	return false
}

var apiVersionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}\.\d+\.\d+$`)

// maxBody is the largest request body accepted (addtaskcollection's limit
// is enforced separately).
const maxBody = 4 << 20

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request, op string) {
	if m := s.cfg.Metrics; m != nil {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		w = sw
		start := time.Now()
		defer func() {
			m.APILatency.WithLabelValues(op, "rest").Observe(time.Since(start).Seconds())
			m.Add(m.APIRequests, 1, op, "rest", strconv.Itoa(sw.status))
		}()
	}
	base := s.baseURL(r)
	fail := func(e *batch.Error) { s.writeError(w, r, base, e) }
	q := r.URL.Query()
	if v := q.Get("api-version"); v == "" {
		fail((&batch.Error{Status: 400, Code: "MissingRequiredQueryParameter",
			Message: "A query parameter that's mandatory for this request is not specified."}).With("QueryParameterName", "api-version"))
		return
	} else if !apiVersionRE.MatchString(v) {
		fail((&batch.Error{Status: 400, Code: "UnsupportedRequestVersion",
			Message: "The specified api-version is not supported."}).With("QueryParameterName", "api-version").With("QueryParameterValue", v))
		return
	}
	var body []byte
	var stream io.Reader
	if streamedOps[op] {
		stream = r.Body // read by the op, after authentication
	} else {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			fail(batch.InvalidBody("", "the request body could not be read"))
			return
		}
		if len(body) > maxBody {
			fail(batch.Errorf(413, "RequestBodyTooLarge", "The request body is too large."))
			return
		}
	}
	account, scope, err := s.authenticate(r)
	if err == nil && scope != "" {
		err = jobScoped(op, scope, r.PathValue("jobId"))
	}
	if err != nil {
		fail(batch.AsError(err))
		return
	}
	cond, err := conditions(r)
	if err != nil {
		fail(batch.AsError(err))
		return
	}
	req := &request{account: account, op: op, poolID: r.PathValue("poolId"), nodeID: r.PathValue("nodeId"),
		jobID: r.PathValue("jobId"), taskID: r.PathValue("taskId"), file: r.PathValue("filePath"),
		appID: r.PathValue("applicationId"), version: r.PathValue("version"), scheduleID: r.PathValue("jobScheduleId"),
		query: q, body: body, stream: stream, cond: cond, base: base, path: r.URL.Path, header: r.Header, w: w}
	resp, err := s.call(r.Context(), req)
	if err != nil {
		be := batch.AsError(err)
		if be.Status >= 500 {
			s.log.ErrorContext(r.Context(), "operation failed", "op", op, "err", err)
		}
		if r.Method == http.MethodHead && be.Status == 404 && strings.HasSuffix(op, ".exists") {
			s.writeHeaders(w, r, nil)
			w.WriteHeader(404)
			return
		}
		fail(be)
		return
	}
	if resp == nil { // streamed already
		return
	}
	// Reads honour If-None-Match / If-Modified-Since with 304.
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && resp.etag != "" && notModified(cond, resp) {
		s.writeHeaders(w, r, resp)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeHeaders(w, r, resp)
	if len(resp.body) > 0 || resp.contentType != "" {
		w.Header().Set("Content-Type", cmp.Or(resp.contentType, jsonContentType))
	}
	w.WriteHeader(resp.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.body)
	}
}

func notModified(c service.Condition, r *response) bool {
	if c.IfNoneMatch != "" {
		return c.IfNoneMatch == "*" || c.IfNoneMatch == r.etag
	}
	if c.IfModifiedSince != nil && r.lastModified != nil {
		return !r.lastModified.Truncate(time.Second).After(c.IfModifiedSince.Time)
	}
	return false
}

// call runs an op. Reads ignore If-None-Match/If-Modified-Since here (they
// give 304 above); writes check every condition in the service.
func (s *Server) call(ctx context.Context, r *request) (*response, error) {
	f, ok := s.ops[r.op]
	if !ok {
		return nil, batch.Errorf(400, "InvalidOperation", "Unknown operation %q.", r.op)
	}
	return f(ctx, r)
}

func (s *Server) writeHeaders(w http.ResponseWriter, r *http.Request, resp *response) {
	h := w.Header()
	h.Set("request-id", service.NewUUID())
	if strings.EqualFold(r.Header.Get("return-client-request-id"), "true") {
		if id := r.Header.Get("client-request-id"); id != "" {
			h.Set("client-request-id", id)
		}
	}
	h.Set("DataServiceVersion", "3.0")
	if resp == nil {
		return
	}
	if resp.etag != "" {
		h.Set("ETag", resp.etag)
	}
	if resp.lastModified != nil {
		h.Set("Last-Modified", httpDate(resp.lastModified))
	}
	if resp.location != "" {
		h.Set("DataServiceId", resp.location)
		if resp.status == http.StatusCreated {
			h.Set("Location", resp.location)
		}
	}
	for k, v := range resp.header {
		h[k] = v
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, base string, e *batch.Error) {
	s.writeHeaders(w, r, nil)
	reqID := w.Header().Get("request-id")
	if e.Status == http.StatusNotModified || r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(e.Status)
	_, _ = w.Write(errorBody(base, e, reqID, s.cfg.Now()))
}

func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// errAuth is the 403 of a request that is not signed right.
func errAuth(reason string) *batch.Error {
	return (&batch.Error{Status: 403, Code: "AuthenticationFailed",
		Message: "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."}).
		With("AuthenticationErrorDetail", reason)
}

// authenticate checks the SharedKey signature, or the bearer token, and
// returns the account. scope is the job a job-scoped token is limited to
// ("" for full access).
func (s *Server) authenticate(r *http.Request) (account, scope string, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", errAuth("The Authorization header is missing.")
	}
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		return s.authenticateToken(r.Context(), strings.TrimSpace(tok))
	}
	account, sig, err := auth.ParseSharedKey(h)
	if err != nil {
		return "", "", (&batch.Error{Status: 400, Code: "InvalidAuthenticationInfo",
			Message: "Authentication information is not given in the correct format. Check the value of Authorization header."}).With("AuthenticationErrorDetail", err.Error())
	}
	keys, err := s.accountKeys(r.Context(), account)
	if err != nil {
		return "", "", err
	}
	switch err := auth.Verify(r, account, sig, keys, s.cfg.Now()); {
	case errors.Is(err, auth.ErrStale):
		return "", "", errAuth("The ocp-date header is missing, malformed or outside the allowed clock skew of 15 minutes.")
	case err != nil:
		return "", "", errAuth("The MAC signature found in the HTTP request is not the same as any computed signature.")
	}
	return account, "", nil
}

// authenticateToken checks a bearer token natch issued (a task's
// AZ_BATCH_AUTHENTICATION_TOKEN).
func (s *Server) authenticateToken(ctx context.Context, tok string) (account, scope string, err error) {
	account, err = auth.TokenAccount(tok)
	if err != nil {
		return "", "", errAuth("The bearer token is not a token this service issued.")
	}
	keys, err := s.svc.TokenKeys(ctx, account)
	if err != nil {
		var be *batch.Error
		if errors.As(err, &be) && be.Status == 403 {
			return "", "", errAuth("The account " + account + " does not exist.")
		}
		return "", "", err
	}
	claims, err := auth.VerifyToken(tok, keys, s.cfg.Now())
	switch {
	case errors.Is(err, auth.ErrTokenExpired):
		return "", "", errAuth("The bearer token has expired.")
	case err != nil:
		return "", "", errAuth("The bearer token's signature is not valid (was the account key it was signed with regenerated?).")
	}
	return claims.Account, claims.Job, nil
}

// jobScoped allows a job-scoped token the operations on its own job: read
// the job and its task counts, and everything on its tasks and their files.
func jobScoped(op, scope, jobID string) error {
	allowed := op == "job.get" || op == "job.taskcounts" || strings.HasPrefix(op, "task.") ||
		strings.HasSuffix(op, "fromtask")
	if allowed && strings.EqualFold(jobID, scope) {
		return nil
	}
	return (&batch.Error{Status: 403, Code: "InsufficientAccountPermissions",
		Message: "The bearer token only grants access to the operations on job " + scope + "."}).With("Operation", op)
}

// accountKeys returns an account's decoded keys, cached for a few seconds.
func (s *Server) accountKeys(ctx context.Context, account string) ([][]byte, error) {
	s.mu.Lock()
	c, ok := s.keys[account]
	s.mu.Unlock()
	if ok && s.cfg.Now().Sub(c.at) < 5*time.Second {
		return c.keys, nil
	}
	a, err := s.svc.Account(ctx, account)
	if err != nil {
		var be *batch.Error
		if errors.As(err, &be) && be.Status == 403 {
			return nil, errAuth("The account " + account + " does not exist.")
		}
		return nil, err
	}
	var keys [][]byte
	for _, k := range a.Keys {
		if b, err := auth.DecodeKey(k); err == nil {
			keys = append(keys, b)
		}
	}
	s.mu.Lock()
	s.keys[account] = cachedKeys{keys, s.cfg.Now()}
	s.mu.Unlock()
	return keys, nil
}

// conditions reads the conditional headers; Azure allows one kind at a time.
func conditions(r *http.Request) (service.Condition, error) {
	var c service.Condition
	n := 0
	if v := r.Header.Get("If-Match"); v != "" {
		c.IfMatch, n = v, n+1
	}
	if v := r.Header.Get("If-None-Match"); v != "" {
		c.IfNoneMatch, n = v, n+1
	}
	for _, h := range []struct {
		name string
		dst  **batch.Time
	}{{"If-Modified-Since", &c.IfModifiedSince}, {"If-Unmodified-Since", &c.IfUnmodifiedSince}} {
		v := r.Header.Get(h.name)
		if v == "" {
			continue
		}
		t, err := http.ParseTime(v)
		if err != nil {
			return c, (&batch.Error{Status: 400, Code: "InvalidHeaderValue",
				Message: "The value for one of the HTTP headers is not in the correct format."}).With("HeaderName", h.name).With("HeaderValue", v)
		}
		*h.dst, n = batch.At(t), n+1
	}
	if n > 1 {
		return c, batch.Errorf(400, "MultipleConditionHeadersNotSupported", "Multiple condition headers are not supported.")
	}
	return c, nil
}

// statusWriter remembers the status a handler wrote, for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status and passes it on.
func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
