package producer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// ApplicationDetails is natch's full view of an application
// (GET /applications/{id}/versions): what Azure's ApplicationSummary shows
// plus the default version, allowUpdates and every package.
type ApplicationDetails struct {
	ID             string                        `json:"id"`
	DisplayName    string                        `json:"displayName,omitempty"`
	DefaultVersion string                        `json:"defaultVersion,omitempty"`
	AllowUpdates   bool                          `json:"allowUpdates"`
	Versions       []protocol.ApplicationVersion `json:"versions"`
}

// PackageInfo is a published application package.
type PackageInfo struct {
	ApplicationID string `json:"applicationId"`
	protocol.ApplicationVersion
}

func opListApplications(o *ListOptions) call {
	return call{op: "application.list", method: http.MethodGet, path: "/applications", query: o.query()}
}

func opGetApplication(id string) call {
	return call{op: "application.get", method: http.MethodGet, path: pathOf("applications", id),
		ids: protocol.APIRequest{ApplicationID: id}}
}

func opApplicationDetails(id string) call {
	return call{op: "application.listversions", method: http.MethodGet, path: pathOf("applications", id, "versions"),
		ids: protocol.APIRequest{ApplicationID: id}}
}

func opPatchApplication(id string, p *batch.ApplicationPatch) call {
	return call{op: "application.patch", method: http.MethodPatch, path: pathOf("applications", id),
		ids: protocol.APIRequest{ApplicationID: id}, body: p, model: true}
}

func opDeleteApplication(id string) call {
	return call{op: "application.delete", method: http.MethodDelete, path: pathOf("applications", id),
		ids: protocol.APIRequest{ApplicationID: id}}
}

func opDeletePackage(id, version string) call {
	return call{op: "application.deleteversion", method: http.MethodDelete, path: pathOf("applications", id, "versions", version),
		ids: protocol.APIRequest{ApplicationID: id, Version: version}}
}

// ListApplications returns the account's applications as Azure lists them
// (GET /applications), following odata.nextLink.
func (c *Client) ListApplications(ctx context.Context, opts *ListOptions) ([]batch.ApplicationSummary, error) {
	return collect(iterate[batch.ApplicationSummary](ctx, c, opListApplications(opts)))
}

// GetApplication returns an application as Azure shows it
// (GET /applications/{id}); ApplicationNotFound if there is none.
func (c *Client) GetApplication(ctx context.Context, id string) (*batch.ApplicationSummary, error) {
	return get[batch.ApplicationSummary](ctx, c, opGetApplication(id))
}

// GetApplicationDetails returns an application with its default version,
// allowUpdates and packages (natch's GET /applications/{id}/versions).
func (c *Client) GetApplicationDetails(ctx context.Context, id string) (*ApplicationDetails, error) {
	return get[ApplicationDetails](ctx, c, opApplicationDetails(id))
}

// PatchApplication changes an application's displayName, defaultVersion
// and allowUpdates (natch's PATCH /applications/{id}), creating it if needed.
func (c *Client) PatchApplication(ctx context.Context, id string, p *batch.ApplicationPatch) (*ApplicationDetails, error) {
	var out ApplicationDetails
	if err := c.roundTrip(ctx, ptr(opPatchApplication(id, p)), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteApplication deletes an application and its packages.
func (c *Client) DeleteApplication(ctx context.Context, id string) error {
	return c.roundTrip(ctx, ptr(opDeleteApplication(id)), nil)
}

// DeletePackage deletes one version of an application.
func (c *Client) DeletePackage(ctx context.Context, id, version string) error {
	return c.roundTrip(ctx, ptr(opDeletePackage(id, version)), nil)
}

// PublishPackage uploads a zip of size bytes as version of application id
// (natch's PUT /applications/{id}/versions/{version}, the zip as the raw
// body). The body streams: it is bounded by ctx only, not Config.Timeout,
// and is not retried.
func (c *Client) PublishPackage(ctx context.Context, id, version string, zip io.Reader, size int64) (*PackageInfo, error) {
	if size < 0 {
		return nil, errors.New("publish package: the size must be known")
	}
	path := pathOf("applications", id, "versions", version)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.cfg.URL+path+"?"+encodeQuery(nil), io.NopCloser(zip))
	if err != nil {
		return nil, fmt.Errorf("PUT %s: %w", path, err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/zip")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	auth.Sign(req, c.cfg.Account, c.key, size)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("PUT %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("PUT %s: read response: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		return nil, parseError(resp.StatusCode, data)
	}
	var info PackageInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("PUT %s: decode response: %w", path, err)
	}
	return &info, nil
}

// ListApplications returns the account's applications as Azure lists them.
func (c *NATSClient) ListApplications(ctx context.Context, opts *ListOptions) ([]batch.ApplicationSummary, error) {
	return collect(iterate[batch.ApplicationSummary](ctx, c, opListApplications(opts)))
}

// GetApplication returns an application as Azure shows it.
func (c *NATSClient) GetApplication(ctx context.Context, id string) (*batch.ApplicationSummary, error) {
	return get[batch.ApplicationSummary](ctx, c, opGetApplication(id))
}

// GetApplicationDetails returns an application with its default version,
// allowUpdates and packages.
func (c *NATSClient) GetApplicationDetails(ctx context.Context, id string) (*ApplicationDetails, error) {
	return get[ApplicationDetails](ctx, c, opApplicationDetails(id))
}

// PatchApplication changes an application's displayName, defaultVersion
// and allowUpdates, creating it if needed.
func (c *NATSClient) PatchApplication(ctx context.Context, id string, p *batch.ApplicationPatch) (*ApplicationDetails, error) {
	var out ApplicationDetails
	if err := c.roundTrip(ctx, ptr(opPatchApplication(id, p)), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeletePackage deletes one version of an application.
func (c *NATSClient) DeletePackage(ctx context.Context, id, version string) error {
	return c.roundTrip(ctx, ptr(opDeletePackage(id, version)), nil)
}

// PublishPackage publishes a zip over NATS: a NATS message cannot carry a
// package, so the zip goes first to the account's application container in
// the object store (under ".staging/"), then application.publish asks the
// dispatcher to check it and publish it; the staged copy is deleted either
// way. The connection needs rights on the container's object store bucket.
func (c *NATSClient) PublishPackage(ctx context.Context, id, version string, zip io.Reader, size int64) (*PackageInfo, error) {
	store, err := blob.NewObjectStore(c.js, topology.ApplicationsContainer, blob.Config{Account: c.cfg.Account})
	if err != nil {
		return nil, err
	}
	if err := store.Create(ctx); err != nil {
		return nil, fmt.Errorf("publish package: %w", err)
	}
	staged := ".staging/" + randomToken() + ".zip"
	if _, err := store.Put(ctx, staged, zip, size, &blob.PutOpts{ContentType: "application/zip"}); err != nil {
		return nil, fmt.Errorf("publish package: stage zip: %w", err)
	}
	cl := call{op: "application.publish", ids: protocol.APIRequest{ApplicationID: id, Version: version},
		body: map[string]string{"stagedBlob": staged}}
	var info PackageInfo
	if err := c.roundTrip(ctx, &cl, &info); err != nil {
		_ = store.Delete(context.WithoutCancel(ctx), staged) // the dispatcher may not have reached it
		return nil, err
	}
	return &info, nil
}

// randomToken is 16 random bytes in hex.
func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
