package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

var errFileNotFound = &batch.Error{Status: 404, Code: "FileNotFound", Message: "The specified file does not exist."}

// fileScope is where a file operation acts: a node, a directory relative to
// the node's root (AZ_BATCH_NODE_ROOT_DIR) that every path of the operation
// stays inside, and the URL the files are listed under. The FromTask
// operations scope to the task's directory, the FromComputeNode operations
// to the node's root.
type fileScope struct {
	nodeID string
	dir    string // relative to the node's root; "" for the root itself
	url    string // "<task or node URL>/files"
	// unreachable is the error when the node does not answer.
	unreachable *batch.Error
}

// taskScope returns the scope of a task that has run: its node and its
// task directory.
func (s *Server) taskScope(ctx context.Context, r *request) (fileScope, error) {
	t, err := s.svc.GetTask(ctx, r.account, r.jobID, r.taskID)
	if err != nil {
		return fileScope{}, err
	}
	if t.NodeInfo == nil || t.NodeInfo.NodeID == "" {
		return fileScope{}, batch.Errorf(409, "TaskFilesUnavailable", "The task has not run on a node yet, so it has no files.")
	}
	j, err := s.svc.GetJob(ctx, r.account, r.jobID)
	if err != nil {
		return fileScope{}, err
	}
	return fileScope{nodeID: t.NodeInfo.NodeID, dir: path.Join("workitems", j.ID, "job-1", t.ID),
		url:         s.taskURL(r, r.jobID, r.taskID) + "/files",
		unreachable: batch.Errorf(409, "TaskFilesUnavailable", "The node that ran the task is not reachable, so its files are unavailable.")}, nil
}

// nodeScope returns the scope of a compute node's files: its root directory.
func (s *Server) nodeScope(ctx context.Context, r *request) (fileScope, error) {
	n, err := s.svc.GetNode(ctx, r.account, r.poolID, r.nodeID)
	if err != nil {
		return fileScope{}, err
	}
	return fileScope{nodeID: n.ID, url: s.nodeURL(r, n.ID) + "/files", unreachable: service.ErrNodeUnreachable}, nil
}

// scope resolves the file scope of a request: FromComputeNode operations
// name a pool and a node, FromTask operations a job and a task.
func (s *Server) scope(ctx context.Context, r *request) (fileScope, error) {
	if strings.HasSuffix(r.op, "fromcomputenode") {
		return s.nodeScope(ctx, r)
	}
	return s.taskScope(ctx, r)
}

// fileRequest sends a file command to the scope's node and returns the
// reply; a node that does not answer in time gives the scope's unreachable
// error.
func (s *Server) fileRequest(ctx context.Context, r *request, sc fileScope, cmd string, fr protocol.FileRequest) (*nats.Msg, error) {
	b, err := json.Marshal(fr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.NodeTimeout)
	defer cancel()
	m, err := s.nc.RequestWithContext(ctx, topology.NodeSubject(r.account, batch.Key(sc.nodeID), cmd), b)
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return nil, sc.unreachable
	}
	if err != nil {
		return nil, err
	}
	if code := m.Header.Get(protocol.ErrorHeader); code != "" {
		switch code {
		case "FileNotFound":
			return nil, errFileNotFound
		case "DirectoryNotEmpty":
			return nil, batch.Errorf(409, code, "%s", string(m.Data))
		case "InternalError":
			return nil, batch.Errorf(500, code, "%s", string(m.Data))
		}
		return nil, batch.Errorf(400, code, "%s", string(m.Data))
	}
	return m, nil
}

// filePath checks a task file path from the URL (one segment, %2F inside).
func filePath(p string) (string, error) {
	if !batch.SafeRelPath(p) {
		return "", (&batch.Error{Status: 400, Code: "InvalidUri",
			Message: "The requested URI does not represent any resource on the server."}).With("PropertyName", "filePath")
	}
	return path.Clean(strings.ReplaceAll(p, `\`, "/")), nil
}

func (s *Server) stat(ctx context.Context, r *request) (fileScope, string, protocol.FileInfo, error) {
	var fi protocol.FileInfo
	rel, err := filePath(r.file)
	if err != nil {
		return fileScope{}, "", fi, err
	}
	sc, err := s.scope(ctx, r)
	if err != nil {
		return fileScope{}, "", fi, err
	}
	full := path.Join(sc.dir, rel)
	m, err := s.fileRequest(ctx, r, sc, protocol.CmdFileStat, protocol.FileRequest{Path: full})
	if err != nil {
		return sc, "", fi, err // the scope still names the file (its URL) for a fallback
	}
	if err := json.Unmarshal(m.Data, &fi); err != nil {
		return fileScope{}, "", fi, fmt.Errorf("node file stat: %w", err)
	}
	return sc, full, fi, nil
}

func (s *Server) fileHeaders(r *request, sc fileScope, resp *response, fi protocol.FileInfo) {
	resp.setHeader("ocp-creation-time", fi.CreationTime.UTC().Format(http.TimeFormat))
	resp.setHeader("ocp-batch-file-isdirectory", strconv.FormatBool(fi.IsDirectory))
	resp.setHeader("ocp-batch-file-url", sc.url+"/"+url.PathEscape(r.file))
	resp.setHeader("ocp-batch-file-mode", fi.Mode)
	resp.lastModified = batch.At(fi.ModTime)
}

func (s *Server) fileProperties(ctx context.Context, r *request) (*response, error) {
	sc, _, fi, err := s.stat(ctx, r)
	if err != nil {
		lc, ok := s.logCopy(ctx, r, err)
		if !ok {
			return nil, err
		}
		_ = lc.body.Close()
		fi = lc.info
	}
	resp := &response{status: 200}
	s.fileHeaders(r, sc, resp, fi)
	resp.setHeader("Content-Length", strconv.FormatInt(fi.Size, 10))
	resp.contentType = "application/octet-stream"
	return resp, nil
}

// fileGet streams a task or node file from its node, in chunks, honouring
// ocp-range (answered with 200, as the SDK requires).
func (s *Server) fileGet(ctx context.Context, r *request) (*response, error) {
	sc, full, fi, err := s.stat(ctx, r)
	read := func(off, n int64) ([]byte, error) {
		m, err := s.fileRequest(ctx, r, sc, protocol.CmdFileRead,
			protocol.FileRequest{Path: full, Offset: off, Length: n})
		if err != nil {
			return nil, err
		}
		return m.Data, nil
	}
	if err != nil {
		lc, ok := s.logCopy(ctx, r, err)
		if !ok {
			return nil, err
		}
		defer lc.body.Close()
		fi, read = lc.info, lc.read
	}
	if fi.IsDirectory {
		return nil, errFileNotFound
	}
	start, end := int64(0), fi.Size-1
	if rg := r.header.Get("ocp-range"); rg != "" {
		a, b, ok := parseRange(rg, fi.Size)
		if !ok {
			return nil, (&batch.Error{Status: 416, Code: "InvalidRange", Message: "The range specified is invalid for the current size of the resource."}).With("HeaderName", "ocp-range")
		}
		start, end = a, b
	}
	length := max(end-start+1, 0)
	resp := &response{status: 200, contentType: "application/octet-stream"}
	s.fileHeaders(r, sc, resp, fi)
	if r.w == nil { // NATS: one reply, bounded
		if length > 4<<20 {
			return nil, batch.Errorf(413, "RequestBodyTooLarge", "Read large files over the REST API or with ocp-range.")
		}
		var out []byte
		for off := start; off < start+length; {
			b, err := read(off, min(protocol.MaxFileChunk, start+length-off))
			if err != nil {
				return nil, err
			}
			if len(b) == 0 {
				break
			}
			out = append(out, b...)
			off += int64(len(b))
		}
		resp.body = out
		return resp, nil
	}
	// HTTP: the first chunk decides the status; then stream.
	first, err := read(start, min(protocol.MaxFileChunk, length))
	if err != nil {
		return nil, err
	}
	w := r.w
	h := w.Header()
	h.Set("request-id", service.NewUUID())
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("Last-Modified", httpDate(resp.lastModified))
	h.Set("Content-Type", resp.contentType)
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(200)
	if _, err := w.Write(first); err != nil {
		return nil, nil
	}
	for off := start + int64(len(first)); off < start+length && len(first) > 0; {
		b, err := read(off, min(protocol.MaxFileChunk, start+length-off))
		if err != nil || len(b) == 0 {
			s.log.WarnContext(ctx, "file stream cut short", "file", full, "err", err)
			return nil, nil
		}
		if _, err := w.Write(b); err != nil {
			return nil, nil
		}
		off += int64(len(b))
	}
	return nil, nil
}

// parseRange parses "bytes=a-b" (b optional) against a size.
func parseRange(v string, size int64) (int64, int64, bool) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size && size > 0 {
		return 0, 0, false
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return 0, 0, false
		}
		end = min(end, size-1)
	}
	return start, end, true
}

// fileDelete deletes a task or node file (a directory with recursive=true)
// on its node.
func (s *Server) fileDelete(ctx context.Context, r *request) (*response, error) {
	rel, err := filePath(r.file)
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, (&batch.Error{Status: 400, Code: "InvalidUri",
			Message: "The file path must name a file or directory inside the task directory or the node's root directory."}).With("PropertyName", "filePath")
	}
	sc, err := s.scope(ctx, r)
	if err != nil {
		return nil, err
	}
	recursive := strings.EqualFold(r.query.Get("recursive"), "true")
	if _, err := s.fileRequest(ctx, r, sc, protocol.CmdFileDelete,
		protocol.FileRequest{Path: path.Join(sc.dir, rel), Recursive: recursive}); err != nil {
		return nil, err
	}
	return empty(http.StatusOK), nil
}

// nodeFile is one entry of a file list.
type nodeFile struct {
	Name        string        `json:"name"`
	URL         string        `json:"url"`
	IsDirectory bool          `json:"isDirectory"`
	Properties  nodeFileProps `json:"properties"`
}

type nodeFileProps struct {
	CreationTime  batch.Time `json:"creationTime"`
	LastModified  batch.Time `json:"lastModified"`
	ContentLength int64      `json:"contentLength"`
	ContentType   string     `json:"contentType"`
	FileMode      string     `json:"fileMode,omitempty"`
}

func (s *Server) fileList(ctx context.Context, r *request) (*response, error) {
	sc, err := s.scope(ctx, r)
	if err != nil {
		return nil, err
	}
	recursive := strings.EqualFold(r.query.Get("recursive"), "true")
	m, err := s.fileRequest(ctx, r, sc, protocol.CmdFileList, protocol.FileRequest{Path: sc.dir, Recursive: recursive})
	if err != nil {
		return nil, err
	}
	var infos []protocol.FileInfo
	if err := json.Unmarshal(m.Data, &infos); err != nil {
		return nil, fmt.Errorf("node file list: %w", err)
	}
	items := make([]listed, 0, len(infos))
	for _, fi := range infos {
		f := nodeFile{Name: fi.Name, URL: sc.url + "/" + url.PathEscape(fi.Name),
			IsDirectory: fi.IsDirectory, Properties: nodeFileProps{CreationTime: batch.Time{Time: fi.CreationTime},
				LastModified: batch.Time{Time: fi.ModTime}, ContentLength: fi.Size, ContentType: "application/octet-stream", FileMode: fi.Mode}}
		b, _ := json.Marshal(f)
		items = append(items, listed{token: fi.Name, json: b})
	}
	return s.page(r, "files", []string{"name"}, sliceSource(items))
}

// taskLog is the copy of a completed task's stdout.txt or stderr.txt that
// its node kept in the account's object store (protocol.TaskLogsContainer).
type taskLog struct {
	info protocol.FileInfo
	body io.ReadCloser
	pos  int64
}

// read reads the copy in order, as fileGet asks for it.
func (l *taskLog) read(off, n int64) ([]byte, error) {
	if off > l.pos {
		k, err := io.CopyN(io.Discard, l.body, off-l.pos)
		l.pos += k
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	b := make([]byte, n)
	k, err := io.ReadFull(l.body, b)
	l.pos += int64(k)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return b[:k], err
}

// logCopy serves stdout.txt and stderr.txt of a completed task whose node
// is gone or unreachable (err is TaskFilesUnavailable) from the copy the
// node kept; a completed task without a copy had an empty log. ok is false
// when err stands.
func (s *Server) logCopy(ctx context.Context, r *request, err error) (*taskLog, bool) {
	var be *batch.Error
	if !errors.As(err, &be) || be.Code != "TaskFilesUnavailable" {
		return nil, false
	}
	name, _ := filePath(r.file)
	if name != "stdout.txt" && name != "stderr.txt" {
		return nil, false
	}
	t, err := s.svc.GetTask(ctx, r.account, r.jobID, r.taskID)
	if err != nil || t.State != batch.TaskCompleted {
		return nil, false
	}
	j, err := s.svc.GetJob(ctx, r.account, r.jobID)
	if err != nil {
		return nil, false
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, false
	}
	logs, err := blob.NewObjectStore(js, protocol.TaskLogsContainer, blob.Config{Account: r.account})
	if err != nil {
		return nil, false
	}
	rc, p, err := logs.Get(ctx, protocol.TaskLogBlob(j.ID, t.ID, name))
	switch {
	case errors.Is(err, blob.ErrNotFound):
		rc, p = io.NopCloser(strings.NewReader("")), blob.Props{}
	case err != nil:
		s.log.WarnContext(ctx, "task log copy", "job_id", j.ID, "task_id", t.ID, "file", name, "err", err)
		return nil, false
	}
	mod := p.LastModified
	if mod.IsZero() && t.ExecutionInfo != nil && t.ExecutionInfo.EndTime != nil {
		mod = t.ExecutionInfo.EndTime.Time
	}
	return &taskLog{body: rc, info: protocol.FileInfo{Name: name, Size: max(p.Size, 0), ModTime: mod, CreationTime: mod,
		Mode: "0o644"}}, true
}
