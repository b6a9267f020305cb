package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/shared/batch"
)

// nodeOps are the compute node, pool and account operations of natch
// issue 3: node scheduling, restarts, remote login, logs and users; pool
// stopResize, removeNodes, usage metrics and lifetime statistics; the
// supported images.
func (s *Server) nodeOps() map[string]opFunc {
	return map[string]opFunc{
		"node.disablescheduling":            s.nodeDisableScheduling,
		"node.enablescheduling":             s.nodeEnableScheduling,
		"node.reboot":                       s.nodeReboot,
		"node.reimage":                      s.nodeReimage,
		"node.getremoteloginsettings":       s.nodeRemoteLogin,
		"node.uploadbatchservicelogs":       s.nodeUploadLogs,
		"node.adduser":                      s.nodeUser,
		"node.updateuser":                   s.nodeUser,
		"node.deleteuser":                   s.nodeUser,
		"file.listfromcomputenode":          s.fileList,
		"file.getfromcomputenode":           s.fileGet,
		"file.getpropertiesfromcomputenode": s.fileProperties,
		"file.deletefromcomputenode":        s.fileDelete,
		"pool.stopresize":                   s.poolStopResize,
		"pool.removenodes":                  s.poolRemoveNodes,
		"pool.listusagemetrics":             s.poolUsageMetrics,
		"pool.getalllifetimestatistics":     s.poolLifetimeStats,
		"job.getalllifetimestatistics":      s.jobLifetimeStats,
		"account.listsupportedimages":       s.supportedImages,
	}
}

// nodeURL is a compute node's URL.
func (s *Server) nodeURL(r *request, nodeID string) string {
	return s.poolURL(r, r.poolID) + "/nodes/" + nodeID
}

// decodeOptional decodes a body that the SDK may leave out.
func decodeOptional(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	return batch.Decode(body, v)
}

func (s *Server) nodeDisableScheduling(ctx context.Context, r *request) (*response, error) {
	var body batch.NodeDisableScheduling
	if err := decodeOptional(r.body, &body); err != nil {
		return nil, err
	}
	if err := s.svc.DisableNodeScheduling(ctx, r.account, r.poolID, r.nodeID, &body); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, location: s.nodeURL(r, r.nodeID)}, nil
}

func (s *Server) nodeEnableScheduling(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.EnableNodeScheduling(ctx, r.account, r.poolID, r.nodeID); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, location: s.nodeURL(r, r.nodeID)}, nil
}

func (s *Server) nodeReboot(ctx context.Context, r *request) (*response, error) {
	var body batch.NodeReboot
	if err := decodeOptional(r.body, &body); err != nil {
		return nil, err
	}
	if err := s.svc.RebootNode(ctx, r.account, r.poolID, r.nodeID, body.NodeRebootOption, false); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.nodeURL(r, r.nodeID)}, nil
}

func (s *Server) nodeReimage(ctx context.Context, r *request) (*response, error) {
	var body batch.NodeReimage
	if err := decodeOptional(r.body, &body); err != nil {
		return nil, err
	}
	if err := s.svc.RebootNode(ctx, r.account, r.poolID, r.nodeID, body.NodeReimageOption, true); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.nodeURL(r, r.nodeID)}, nil
}

func (s *Server) nodeRemoteLogin(ctx context.Context, r *request) (*response, error) {
	rl, err := s.svc.NodeRemoteLoginSettings(ctx, r.account, r.poolID, r.nodeID)
	if err != nil {
		return nil, err
	}
	b, err := withMetadata(r.base+"/$metadata#Microsoft.Azure.Batch.Protocol.Entities.ComputeNodeGetRemoteLoginSettingsResult", rl)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: b}, nil
}

func (s *Server) nodeUploadLogs(ctx context.Context, r *request) (*response, error) {
	var body batch.UploadBatchServiceLogs
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	res, err := s.svc.UploadNodeLogs(ctx, r.account, r.poolID, r.nodeID, &body)
	if err != nil {
		return nil, err
	}
	b, err := withMetadata(r.base+"/$metadata#Microsoft.Azure.Batch.Protocol.Entities.UploadBatchServiceLogsResult", res)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: b}, nil
}

// nodeUser answers addUser, updateUser and deleteUser with the documented
// error (service.ErrNodeUsersUnsupported).
func (s *Server) nodeUser(ctx context.Context, r *request) (*response, error) {
	return nil, s.svc.NodeUser(ctx, r.account, r.poolID, r.nodeID)
}

func (s *Server) poolStopResize(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.StopResize(ctx, r.account, r.poolID, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.poolURL(r, r.poolID)}, nil
}

func (s *Server) poolRemoveNodes(ctx context.Context, r *request) (*response, error) {
	var body batch.NodeRemove
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	if err := s.svc.RemoveNodes(ctx, r.account, r.poolID, &body, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.poolURL(r, r.poolID)}, nil
}

// queryTime reads an optional ISO 8601 time query parameter.
func queryTime(r *request, name string) (*time.Time, error) {
	v := r.query.Get(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, (&batch.Error{Status: 400, Code: "InvalidQueryParameterValue",
			Message: "The value for one of the query parameters specified in the request URI is invalid."}).
			With("QueryParameterName", name).With("QueryParameterValue", v)
	}
	return &t, nil
}

func (s *Server) poolUsageMetrics(ctx context.Context, r *request) (*response, error) {
	start, err := queryTime(r, "starttime")
	if err != nil {
		return nil, err
	}
	end, err := queryTime(r, "endtime")
	if err != nil {
		return nil, err
	}
	metrics, err := s.svc.ListUsageMetrics(ctx, r.account, start, end)
	if err != nil {
		return nil, err
	}
	items := make([]listed, 0, len(metrics))
	for _, m := range metrics {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		items = append(items, listed{token: lower(m.PoolID) + "|" + m.StartTime.UTC().Format(time.RFC3339), json: b})
	}
	return s.page(r, "poolusagemetrics", []string{"poolId", "startTime", "endTime", "vmSize", "totalCoreHours"}, sliceSource(items))
}

func (s *Server) poolLifetimeStats(ctx context.Context, r *request) (*response, error) {
	st, err := s.svc.PoolLifetimeStatistics(ctx, r.account)
	if err != nil {
		return nil, err
	}
	st.URL = r.base + "/lifetimepoolstats"
	b, err := withMetadata(r.base+"/$metadata#poolstats/@Element", st)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: b}, nil
}

func (s *Server) jobLifetimeStats(ctx context.Context, r *request) (*response, error) {
	st, err := s.svc.JobLifetimeStatistics(ctx, r.account)
	if err != nil {
		return nil, err
	}
	st.URL = r.base + "/lifetimejobstats"
	b, err := withMetadata(r.base+"/$metadata#jobstats/@Element", st)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: b}, nil
}

func (s *Server) supportedImages(_ context.Context, r *request) (*response, error) {
	images := service.SupportedImages()
	items := make([]listed, 0, len(images))
	for _, im := range images {
		b, err := json.Marshal(im)
		if err != nil {
			return nil, err
		}
		items = append(items, listed{token: im.NodeAgentSKUID, json: b})
	}
	return s.page(r, "supportedimages", []string{"nodeAgentSKUId", "osType", "verificationType",
		"imageReference/publisher", "imageReference/offer", "imageReference/sku", "imageReference/version"}, sliceSource(items))
}
