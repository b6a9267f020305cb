package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// applicationOps are the application operations: Azure's list and get, and
// natch's publish API (Azure manages packages through ARM, which natch does
// not have).
func (s *Server) applicationOps() map[string]opFunc {
	return map[string]opFunc{
		"application.list":          s.appList,
		"application.get":           s.appGet,
		"application.patch":         s.appPatch,
		"application.delete":        s.appDelete,
		"application.listversions":  s.appListVersions,
		"application.publish":       s.appPublish,
		"application.deleteversion": s.appDeleteVersion,
	}
}

// streamedOps read their request body themselves (r.stream) instead of
// having it buffered up to maxBody.
var streamedOps = map[string]bool{"application.publish": true}

func (s *Server) appURL(r *request, id string) string { return r.base + "/applications/" + id }

func (s *Server) appList(ctx context.Context, r *request) (*response, error) {
	apps, err := s.svc.ListApplications(ctx, r.account)
	if err != nil {
		return nil, err
	}
	items := make([]listed, 0, len(apps))
	for _, a := range apps {
		b, err := json.Marshal(service.ApplicationSummary(a))
		if err != nil {
			return nil, err
		}
		items = append(items, listed{token: lower(a.ID), json: b})
	}
	return s.page(r, "applications", []string{"id", "displayName"}, sliceSource(items))
}

func (s *Server) appGet(ctx context.Context, r *request) (*response, error) {
	a, err := s.svc.GetApplication(ctx, r.account, r.appID)
	if err != nil {
		return nil, err
	}
	sum := service.ApplicationSummary(a)
	return s.selected(r, "applications", &sum, "", nil)
}

// applicationDetails is natch's full view of an application
// (GET /applications/{id}/versions): the summary plus what Azure shows only
// through ARM.
type applicationDetails struct {
	ID             string                        `json:"id"`
	DisplayName    string                        `json:"displayName,omitempty"`
	DefaultVersion string                        `json:"defaultVersion,omitempty"`
	AllowUpdates   bool                          `json:"allowUpdates"`
	Versions       []protocol.ApplicationVersion `json:"versions"`
}

func (s *Server) details(r *request, a *protocol.ApplicationRecord) (*response, error) {
	d := applicationDetails{ID: a.ID, DisplayName: a.DisplayName, DefaultVersion: a.DefaultVersion,
		AllowUpdates: a.AllowUpdates, Versions: a.Versions}
	if d.Versions == nil {
		d.Versions = []protocol.ApplicationVersion{}
	}
	for i := range d.Versions {
		d.Versions[i].Upload = nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: b, etag: a.ETag, lastModified: a.LastModified,
		location: s.appURL(r, a.ID)}, nil
}

func (s *Server) appListVersions(ctx context.Context, r *request) (*response, error) {
	a, err := s.svc.GetApplication(ctx, r.account, r.appID)
	if err != nil {
		return nil, err
	}
	return s.details(r, a)
}

func (s *Server) appPatch(ctx context.Context, r *request) (*response, error) {
	var body batch.ApplicationPatch
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	a, err := s.svc.PatchApplication(ctx, r.account, r.appID, &body)
	if err != nil {
		return nil, err
	}
	return s.details(r, a)
}

func (s *Server) appDelete(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.DeleteApplication(ctx, r.account, r.appID); err != nil {
		return nil, err
	}
	return empty(http.StatusOK), nil
}

func (s *Server) appDeleteVersion(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.DeleteVersion(ctx, r.account, r.appID, r.version); err != nil {
		return nil, err
	}
	return empty(http.StatusOK), nil
}

// stagedPackage is the body of application.publish over NATS: the zip,
// uploaded beforehand by the client to the account's application container
// under service.StagingPrefix.
type stagedPackage struct {
	StagedBlob string `json:"stagedBlob"`
}

func (s *Server) appPublish(ctx context.Context, r *request) (*response, error) {
	body := r.stream
	if body == nil {
		var in stagedPackage
		if err := batch.Decode(r.body, &in); err != nil {
			return nil, err
		}
		if in.StagedBlob == "" {
			return nil, batch.MissingProperty("stagedBlob")
		}
		if !strings.HasPrefix(in.StagedBlob, service.StagingPrefix) {
			return nil, batch.InvalidProperty("stagedBlob", "a staged package is named "+service.StagingPrefix+"<name>")
		}
		rc, done, err := s.svc.OpenStaged(ctx, r.account, in.StagedBlob)
		if err != nil {
			return nil, err
		}
		defer done()
		body = rc
	}
	info, err := s.svc.PublishVersion(ctx, r.account, r.appID, r.version, body)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusCreated, body: b, location: s.appURL(r, info.ApplicationID)}, nil
}
