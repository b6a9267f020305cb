package blob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Sentinel errors. Every error of this package that matches one of them also
// names the operation and the blob.
var (
	// ErrNotFound matches a missing blob or a missing container (Azure's
	// BlobNotFound, ContainerNotFound; HTTP 404; a missing object or bucket).
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied matches a request the store refused for its
	// credentials: HTTP 401 and 403 (Azure's AuthenticationFailed,
	// AuthorizationFailure, AuthorizationPermissionMismatch, …) and NATS
	// permission violations.
	ErrAccessDenied = errors.New("access denied")
	// ErrInvalidName matches a blob or container name that CheckName or
	// CheckContainerName rejects. No request was sent.
	ErrInvalidName = errors.New("invalid name")
	// ErrInvalidRef matches a container reference or URL that Open, the
	// constructors or HTTP.Get cannot use. No request was sent.
	ErrInvalidRef = errors.New("invalid reference")
	// ErrChecksumMismatch matches a download whose bytes do not match the
	// checksum the store recorded (Content-MD5, or the object's SHA-256), or
	// whose length differs from the announced size; returned by Read at the
	// end of the body.
	ErrChecksumMismatch = errors.New("checksum mismatch")
)

// Props describes a stored blob.
type Props struct {
	Name         string    // blob name; empty for HTTP.Get
	Size         int64     // bytes; -1 when unknown (an HTTP response without Content-Length)
	ETag         string    // changes whenever the content changes; the object store uses its SHA-256 digest
	LastModified time.Time // zero when unknown
	ContentMD5   []byte    // MD5 of the whole blob when the store keeps one (Azure, HTTP Content-MD5); nil otherwise
	ContentType  string    // MIME type when known
}

// PutOpts are optional settings of one Container.Put; nil means none.
type PutOpts struct {
	ContentType string // stored and returned by Get and Stat; Azure defaults to application/octet-stream
}

// Container is a container of blobs: an Azure Blob Storage container or a
// NATS object store bucket. Implementations are safe for concurrent use.
type Container interface {
	// Put stores r under name, replacing any blob of that name. size is the
	// number of bytes r yields, or -1 when unknown; when size is known and r
	// yields a different count, Put fails and stores nothing.
	Put(ctx context.Context, name string, r io.Reader, size int64, opts *PutOpts) (Props, error)
	// Get opens the blob for reading. The caller must Close the reader.
	// Reading is bound to ctx, and the end of the body is verified against
	// the stored checksum and size (ErrChecksumMismatch).
	Get(ctx context.Context, name string) (io.ReadCloser, Props, error)
	// Stat returns the blob's properties.
	Stat(ctx context.Context, name string) (Props, error)
	// List yields the blobs whose names start with prefix (empty for all),
	// in lexical order. A failure is yielded once, as the last element.
	// A prefix such as "dir/" lists a virtual directory, recursively.
	List(ctx context.Context, prefix string) iter.Seq2[Props, error]
	// Delete removes the blob; deleting a missing blob is ErrNotFound.
	Delete(ctx context.Context, name string) error
}

// Config configures Open, the backends' constructors and NewHTTP. The zero
// value is usable for Azure container URLs and http(s) GETs.
type Config struct {
	// Account is the natch account whose containers nats:// references and
	// bare container names address. Required for the object store.
	Account string
	// JetStream is the connection of the object store backend. Required
	// for nats:// references, and for bare container names when
	// ConnectionString is empty.
	JetStream jetstream.JetStream
	// ConnectionString is the account's linked Azure storage
	// ("DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;…", or
	// "UseDevelopmentStorage=true" for Azurite on 127.0.0.1:10000). When set,
	// bare container names open Azure containers with it.
	ConnectionString string
	// HTTPClient sends Azure and http(s) requests. Defaults to a client
	// with no overall timeout (transfers are bounded by ctx and
	// TransferTimeout).
	HTTPClient *http.Client
	// AllowHTTP permits plain-http Azure endpoints on hosts other than
	// loopback addresses. Defaults to false: SAS tokens and shared-key
	// requests only travel over TLS, or to a local emulator.
	AllowHTTP bool
	// TransferTimeout bounds a Put, and the reading of a Get, when ctx has
	// no deadline. Defaults to 1h.
	TransferTimeout time.Duration
	// Replicas is the replica count of the buckets ObjectStore.Create
	// makes. Defaults to 1 (use 3 on a cluster).
	Replicas int
	// Logger receives debug logs. Defaults to discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.TransferTimeout = cmp.Or(c.TransferTimeout, time.Hour)
	c.Replicas = cmp.Or(c.Replicas, 1)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Open opens the container a resource or output file refers to. ref is one of:
//
//   - an Azure container URL, usually with a SAS token:
//     https://acct.blob.core.windows.net/container?sv=…&sig=…, or the
//     path-style http://127.0.0.1:10000/devstoreaccount1/container?… of
//     Azurite (path style is recognised for IP and localhost hosts);
//   - nats://<container>: container <container> of cfg.Account in the object
//     store of cfg.JetStream;
//   - a bare container name (autoStorageContainerName): the account's
//     auto-storage, Azure with cfg.ConnectionString when it is set and the
//     object store otherwise.
//
// Open checks ref strictly and sends no request; a missing container shows
// as ErrNotFound from the first operation. Use NewAzureFromConnectionString
// for a connection string with a container name.
func Open(ctx context.Context, ref string, cfg Config) (Container, error) {
	_ = ctx // kept for backends that resolve references remotely
	switch {
	case hasScheme(ref, "https") || hasScheme(ref, "http"):
		return NewAzureFromURL(ref, cfg)
	case hasScheme(ref, "nats"):
		name := ref[len("nats://"):]
		if err := CheckContainerName(name); err != nil {
			return nil, fmt.Errorf("open %s: %w: %w", Redact(ref), ErrInvalidRef, err)
		}
		return NewObjectStore(cfg.JetStream, name, cfg)
	case strings.Contains(ref, ":"):
		return nil, fmt.Errorf("open %s: %w: want an http(s):// container URL, nats://<container> or a container name",
			Redact(ref), ErrInvalidRef)
	}
	if err := CheckContainerName(ref); err != nil {
		return nil, fmt.Errorf("open %q: %w: %w", ref, ErrInvalidRef, err)
	}
	if cfg.ConnectionString != "" {
		return NewAzureFromConnectionString(cfg.ConnectionString, ref, cfg)
	}
	return NewObjectStore(cfg.JetStream, ref, cfg)
}

// hasScheme reports whether ref starts with scheme "://", ignoring case.
func hasScheme(ref, scheme string) bool {
	p := scheme + "://"
	return len(ref) >= len(p) && strings.EqualFold(ref[:len(p)], p)
}

// transferCtx bounds a transfer by cfg.TransferTimeout when ctx has no
// deadline of its own.
func transferCtx(ctx context.Context, cfg Config) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, cfg.TransferTimeout)
}

// closeFunc is an io.ReadCloser whose Close also runs done (which cancels
// the transfer's context).
type closeFunc struct {
	io.ReadCloser
	done func()
}

func (c *closeFunc) Close() error {
	err := c.ReadCloser.Close()
	c.done()
	return err
}

// wrapReader translates the errors (but io.EOF) of a blob's body into the
// backend's wrapped errors.
type wrapReader struct {
	rc   io.ReadCloser
	wrap func(error) error
}

// Read reads from the body.
func (r *wrapReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = r.wrap(err)
	}
	return n, err
}

// Close closes the body.
func (r *wrapReader) Close() error { return r.rc.Close() }
