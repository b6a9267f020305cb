package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Upload tuning: a Put holds at most azureBlockSize*azureConcurrency bytes
// in memory. Blobs shorter than a block go up in one request.
const (
	azureBlockSize   = 4 << 20
	azureConcurrency = 4
	defaultMIMEType  = "application/octet-stream"
)

// Azure is a Container in Azure Blob Storage (or Azurite), reached with a
// SAS container URL or an account-key connection string. Put records the
// blob's Content-MD5, and Get verifies it when the blob has one.
type Azure struct {
	client    *container.Client
	container string
	cfg       Config
	log       *slog.Logger
}

var _ Container = (*Azure)(nil)

// NewAzureFromURL returns the container at containerURL:
// https://<account>.blob.core.windows.net/<container>[?<SAS>], or the
// path-style http(s)://<IP or localhost>[:port]/<account>/<container>[?<SAS>]
// of Azurite. The URL must name a container (not a blob), carry no
// parameters other than a SAS, and use https unless its host is loopback or
// cfg.AllowHTTP is set. Without a SAS, requests are anonymous (public
// containers). It sends no request.
func NewAzureFromURL(containerURL string, cfg Config) (*Azure, error) {
	cfg = cfg.withDefaults()
	ref, err := parseContainerURL(containerURL, cfg.AllowHTTP)
	if err != nil {
		return nil, fmt.Errorf("azure container URL %s: %w", Redact(containerURL), err)
	}
	client, err := container.NewClientWithNoCredential(ref.url, clientOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("azure container URL %s: %w", Redact(containerURL), redactErr(err))
	}
	return newAzure(client, ref.container, cfg), nil
}

// NewAzureFromConnectionString returns the container containerName of the
// storage account of an account-key connection string
// ("DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…[;EndpointSuffix=…|;BlobEndpoint=…]"),
// or of Azurite with "UseDevelopmentStorage=true". It sends no request.
func NewAzureFromConnectionString(connStr, containerName string, cfg Config) (*Azure, error) {
	cfg = cfg.withDefaults()
	if err := CheckContainerName(containerName); err != nil {
		return nil, fmt.Errorf("azure container: %w", err)
	}
	cs, err := parseConnectionString(connStr, cfg.AllowHTTP)
	if err != nil {
		return nil, fmt.Errorf("azure connection string %s: %w", Redact(connStr), err)
	}
	cred, err := container.NewSharedKeyCredential(cs.account, cs.key)
	if err != nil {
		return nil, fmt.Errorf("azure connection string %s: %w: account key: %w", Redact(connStr), ErrInvalidRef, err)
	}
	client, err := container.NewClientWithSharedKeyCredential(cs.endpoint+"/"+containerName, cred, clientOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("azure container %s: %w", containerName, err)
	}
	return newAzure(client, containerName, cfg), nil
}

func clientOptions(cfg Config) *container.ClientOptions {
	return &container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: cfg.HTTPClient}}
}

func newAzure(client *container.Client, name string, cfg Config) *Azure {
	return &Azure{client: client, container: name, cfg: cfg,
		log: cfg.Logger.With("component", "blob", "backend", "azure", "container", name)}
}

// Create creates the container unless it exists already. It needs
// account-level rights (a connection string or an account SAS).
func (a *Azure) Create(ctx context.Context) error {
	_, err := a.client.Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return a.wrap("create container", "", err)
	}
	return nil
}

// Put implements Container. A blob of several blocks gets its Content-MD5
// in a second request once the block list is committed.
func (a *Azure) Put(ctx context.Context, name string, r io.Reader, size int64, opts *PutOpts) (Props, error) {
	if err := CheckName(name); err != nil {
		return Props{}, a.wrap("put", name, err)
	}
	contentType := defaultMIMEType
	if opts != nil && opts.ContentType != "" {
		contentType = opts.ContentType
	}
	tctx, cancel := transferCtx(ctx, a.cfg)
	defer cancel()
	sr := newSizedReader(r, size)
	bb := a.client.NewBlockBlobClient(name)
	resp, err := bb.UploadStream(tctx, sr, &blockblob.UploadStreamOptions{
		BlockSize:   azureBlockSize,
		Concurrency: azureConcurrency,
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &contentType},
	})
	if err != nil {
		return Props{}, a.wrap("put", name, err)
	}
	p := Props{Name: name, Size: sr.n, ContentMD5: sr.sum(), ContentType: contentType,
		ETag: string(deref(resp.ETag)), LastModified: deref(resp.LastModified)}
	// A single-request upload answers with (and stores) the blob's MD5; a
	// block list commit answers with the MD5 of the list and stores none.
	if !bytes.Equal(resp.ContentMD5, p.ContentMD5) {
		set, err := bb.SetHTTPHeaders(tctx, blob.HTTPHeaders{BlobContentType: &contentType, BlobContentMD5: p.ContentMD5},
			&blob.SetHTTPHeadersOptions{AccessConditions: &blob.AccessConditions{
				ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: resp.ETag}}})
		switch {
		case bloberror.HasCode(err, bloberror.ConditionNotMet): // replaced meanwhile: its writer owns the headers
		case err != nil:
			return Props{}, a.wrap("put", name, fmt.Errorf("set Content-MD5: %w", err))
		default:
			p.ETag, p.LastModified = string(deref(set.ETag)), deref(set.LastModified)
		}
	}
	a.log.DebugContext(ctx, "put blob", "name", name, "size", p.Size)
	return p, nil
}

// Get implements Container. The body retries broken downloads from where
// they stopped (with If-Match on the ETag).
func (a *Azure) Get(ctx context.Context, name string) (io.ReadCloser, Props, error) {
	if err := CheckName(name); err != nil {
		return nil, Props{}, a.wrap("get", name, err)
	}
	tctx, cancel := transferCtx(ctx, a.cfg)
	resp, err := a.client.NewBlobClient(name).DownloadStream(tctx, nil)
	if err != nil {
		cancel()
		return nil, Props{}, a.wrap("get", name, err)
	}
	p := Props{Name: name, Size: deref(resp.ContentLength), ETag: string(deref(resp.ETag)),
		LastModified: deref(resp.LastModified), ContentMD5: resp.ContentMD5, ContentType: deref(resp.ContentType)}
	if resp.ContentLength == nil {
		p.Size = -1
	}
	body := &wrapReader{rc: resp.NewRetryReader(tctx, &blob.RetryReaderOptions{MaxRetries: 3}),
		wrap: func(err error) error { return a.wrap("read", name, err) }}
	a.log.DebugContext(ctx, "get blob", "name", name, "size", p.Size)
	return &closeFunc{ReadCloser: verify(body, p.Size, p.ContentMD5), done: cancel}, p, nil
}

// Stat implements Container.
func (a *Azure) Stat(ctx context.Context, name string) (Props, error) {
	if err := CheckName(name); err != nil {
		return Props{}, a.wrap("stat", name, err)
	}
	resp, err := a.client.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return Props{}, a.wrap("stat", name, err)
	}
	return Props{Name: name, Size: deref(resp.ContentLength), ETag: string(deref(resp.ETag)),
		LastModified: deref(resp.LastModified), ContentMD5: resp.ContentMD5, ContentType: deref(resp.ContentType)}, nil
}

// List implements Container, a page of up to 5000 blobs per request.
func (a *Azure) List(ctx context.Context, prefix string) iter.Seq2[Props, error] {
	return func(yield func(Props, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield(Props{}, a.wrap("list", prefix, err))
			return
		}
		opts := &container.ListBlobsFlatOptions{}
		if prefix != "" {
			opts.Prefix = &prefix
		}
		pager := a.client.NewListBlobsFlatPager(opts)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				yield(Props{}, a.wrap("list", prefix, err))
				return
			}
			for _, item := range page.Segment.BlobItems {
				if item == nil || item.Name == nil {
					continue
				}
				p := Props{Name: *item.Name, Size: -1}
				if pr := item.Properties; pr != nil {
					p.Size, p.ETag, p.LastModified = deref(pr.ContentLength), string(deref(pr.ETag)), deref(pr.LastModified)
					p.ContentMD5, p.ContentType = pr.ContentMD5, deref(pr.ContentType)
				}
				if !yield(p, nil) {
					return
				}
			}
		}
	}
}

// Delete implements Container. It deletes the blob's snapshots with it.
func (a *Azure) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return a.wrap("delete", name, err)
	}
	_, err := a.client.NewBlobClient(name).Delete(ctx,
		&blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil {
		return a.wrap("delete", name, err)
	}
	a.log.DebugContext(ctx, "deleted blob", "name", name)
	return nil
}

// wrap adds the operation, blob and container to err and the sentinel that
// callers branch on; Azure's verbose response errors shrink to their code,
// and URLs in the message lose their SAS signature.
func (a *Azure) wrap(op, name string, err error) error {
	var kind error
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusNotFound:
			kind = ErrNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			kind = ErrAccessDenied
		}
		err = &azureError{code: re.ErrorCode, status: re.StatusCode, err: err}
	}
	err = redactErr(err)
	where := fmt.Sprintf("%s %q in container %s", op, name, a.container)
	if name == "" {
		where = fmt.Sprintf("%s %s", op, a.container)
	}
	if kind != nil {
		return fmt.Errorf("%s: %w: %w", where, kind, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// azureError is a short rendering of an Azure response error: its stable
// code and HTTP status. It unwraps to the *azcore.ResponseError.
type azureError struct {
	code   string
	status int
	err    error
}

func (e *azureError) Error() string {
	code := e.code
	if code == "" {
		code = http.StatusText(e.status)
	}
	return fmt.Sprintf("azure %s (HTTP %d)", code, e.status)
}

func (e *azureError) Unwrap() error { return e.err }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
