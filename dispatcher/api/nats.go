package api

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// natsQueue is the queue group of the NATS API: several dispatchers share
// the requests.
const natsQueue = "natch-dispatcher"

// ServeNATS answers NATS API requests (topology.APISubject) until ctx ends.
// Requests are trusted as far as NATS trusts the connection: the account is
// the subject's, and NATS permissions decide who may publish there.
func (s *Server) ServeNATS(ctx context.Context) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, natsParallel)
	sub, err := s.nc.QueueSubscribe(topology.APIFilter, natsQueue, func(m *nats.Msg) {
		sem <- struct{}{} // bounded: a flood of requests queues in the subscription
		wg.Go(func() {
			defer func() { <-sem }()
			s.serveNATS(ctx, m)
		})
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	err = sub.Unsubscribe()
	wg.Wait()
	return err
}

// natsParallel is how many NATS API requests one dispatcher serves at once.
const natsParallel = 64

func (s *Server) serveNATS(ctx context.Context, m *nats.Msg) {
	start, op := time.Now(), "unknown"
	reply := func(status int, body []byte) {
		if mt := s.cfg.Metrics; mt != nil {
			mt.APILatency.WithLabelValues(op, "nats").Observe(time.Since(start).Seconds())
			mt.Add(mt.APIRequests, 1, op, "nats", strconv.Itoa(status))
		}
		b, _ := json.Marshal(protocol.APIResponse{Status: status, Body: body})
		_ = m.Respond(b)
	}
	fail := func(e *batch.Error) { reply(e.Status, errorBody(s.cfg.PublicURL, e, "", s.cfg.Now())) }
	parts := strings.Split(m.Subject, ".")
	if len(parts) < 4 {
		fail(batch.Errorf(400, "InvalidOperation", "The subject must be natch.api.<account>.<operation>."))
		return
	}
	account := parts[2]
	op = strings.Join(parts[3:], ".")
	if _, known := s.ops[op]; !known && op != "pool.exists" {
		fail(batch.Errorf(400, "InvalidOperation", "Unknown operation %q.", op))
		return
	}
	if _, err := s.svc.Account(ctx, account); err != nil {
		fail(errAuth("The account " + account + " does not exist."))
		return
	}
	var req protocol.APIRequest
	if len(m.Data) > 0 {
		if err := json.Unmarshal(m.Data, &req); err != nil {
			fail(batch.InvalidBody("", "the NATS API request is not a valid APIRequest: "+err.Error()))
			return
		}
	}
	if op == "pool.exists" {
		op = "pool.get"
	}
	r := &request{account: account, op: op, poolID: req.PoolID, nodeID: req.NodeID, jobID: req.JobID,
		taskID: req.TaskID, appID: req.ApplicationID, version: req.Version, scheduleID: req.JobScheduleID,
		query: req.Query, body: req.Body, base: s.cfg.PublicURL, path: pathOf(op, req)}
	if r.query == nil {
		r.query = map[string][]string{}
	}
	if fp := r.query.Get("filePath"); fp != "" {
		r.file = fp
	}
	resp, err := s.call(ctx, r)
	if err != nil {
		fail(batch.AsError(err))
		return
	}
	body := resp.body
	if resp.contentType != "" { // raw bytes (a file): a base64 JSON string
		body, _ = json.Marshal(resp.body)
	}
	reply(resp.status, body)
}

// pathOf is the REST path of a NATS op, for odata.nextLink.
func pathOf(op string, r protocol.APIRequest) string {
	switch {
	case op == "job.listfromjobschedule":
		return "/jobschedules/" + r.JobScheduleID + "/jobs"
	case strings.HasPrefix(op, "jobschedule."):
		return "/jobschedules"
	case op == "pool.listusagemetrics":
		return "/poolusagemetrics"
	case op == "account.listsupportedimages":
		return "/supportedimages"
	case op == "file.listfromcomputenode":
		return "/pools/" + r.PoolID + "/nodes/" + r.NodeID + "/files"
	case op == "file.listfromtask":
		return "/jobs/" + r.JobID + "/tasks/" + r.TaskID + "/files"
	case strings.HasPrefix(op, "pool."):
		return "/pools"
	case strings.HasPrefix(op, "node."):
		return "/pools/" + r.PoolID + "/nodes"
	case strings.HasPrefix(op, "job."):
		return "/jobs"
	case strings.HasPrefix(op, "task."):
		return "/jobs/" + r.JobID + "/tasks"
	case strings.HasPrefix(op, "application."):
		return "/applications"
	}
	return "/"
}
