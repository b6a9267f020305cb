package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/topology"
)

// ObjectStore is a Container kept in a NATS JetStream object store bucket:
// container <c> of natch account <a> is bucket BucketName(a, c). Blob names
// are object names; objects that link to other buckets are refused. It has
// no Content-MD5: Props.ETag is the object's SHA-256 digest, which Get
// verifies at the end of the body.
type ObjectStore struct {
	js        jetstream.JetStream
	container string
	bucket    string
	cfg       Config
	log       *slog.Logger

	mu  sync.Mutex
	obs jetstream.ObjectStore // bound on first use; nil while the bucket is missing
}

var _ Container = (*ObjectStore)(nil)

// NewObjectStore returns container of cfg.Account in the object store of js.
// It sends no request: a missing bucket shows as ErrNotFound until Create
// makes it.
func NewObjectStore(js jetstream.JetStream, container string, cfg Config) (*ObjectStore, error) {
	cfg = cfg.withDefaults()
	if js == nil {
		return nil, errors.New("object store: no JetStream connection configured")
	}
	bucket, err := BucketName(cfg.Account, container)
	if err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	return &ObjectStore{js: js, container: container, bucket: bucket, cfg: cfg,
		log: cfg.Logger.With("component", "blob", "backend", "objectstore", "bucket", bucket)}, nil
}

// Bucket is the name of the object store bucket that holds the container.
func (s *ObjectStore) Bucket() string { return s.bucket }

// Create makes the container's bucket (file storage, cfg.Replicas) unless it
// exists already.
func (s *ObjectStore) Create(ctx context.Context) error {
	obs, err := s.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      s.bucket,
		Description: "natch blob container " + s.cfg.Account + "/" + s.container,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		obs, err = nil, nil
	}
	if err == nil && s.cfg.Replicas > 1 {
		// Read what was just written, from any server (see LeaderReads);
		// a handle keeps the setting it was bound with: bind afresh.
		obs, err = nil, topology.LeaderReads(ctx, s.js, "OBJ_"+s.bucket)
	}
	if err == nil && obs == nil {
		obs, err = s.js.ObjectStore(ctx, s.bucket)
	}
	if err != nil {
		return s.wrap("create container", "", err)
	}
	s.mu.Lock()
	s.obs = obs
	s.mu.Unlock()
	return nil
}

// store binds the bucket, once it exists.
func (s *ObjectStore) store(ctx context.Context) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obs != nil {
		return s.obs, nil
	}
	obs, err := s.js.ObjectStore(ctx, s.bucket)
	if err != nil {
		return nil, err
	}
	s.obs = obs
	return obs, nil
}

// Put implements Container.
func (s *ObjectStore) Put(ctx context.Context, name string, r io.Reader, size int64, opts *PutOpts) (Props, error) {
	if err := CheckName(name); err != nil {
		return Props{}, s.wrap("put", name, err)
	}
	obs, err := s.store(ctx)
	if err != nil {
		return Props{}, s.wrap("put", name, err)
	}
	meta := jetstream.ObjectMeta{Name: name}
	if opts != nil && opts.ContentType != "" {
		meta.Headers = nats.Header{"Content-Type": []string{opts.ContentType}}
	}
	tctx, cancel := transferCtx(ctx, s.cfg)
	defer cancel()
	info, err := obs.Put(tctx, meta, newSizedReader(r, size))
	if err != nil {
		return Props{}, s.wrap("put", name, err)
	}
	s.log.DebugContext(ctx, "put blob", "name", name, "size", info.Size)
	return objectProps(info), nil
}

// Get implements Container.
func (s *ObjectStore) Get(ctx context.Context, name string) (io.ReadCloser, Props, error) {
	if err := CheckName(name); err != nil {
		return nil, Props{}, s.wrap("get", name, err)
	}
	obs, err := s.store(ctx)
	if err != nil {
		return nil, Props{}, s.wrap("get", name, err)
	}
	tctx, cancel := transferCtx(ctx, s.cfg)
	res, err := obs.Get(tctx, name)
	if err != nil {
		cancel()
		return nil, Props{}, s.wrap("get", name, err)
	}
	info, err := res.Info()
	if err == nil && info.Bucket != s.bucket { // Get followed a link out of the container
		err = fmt.Errorf("%w: object links to bucket %s", ErrAccessDenied, info.Bucket)
	}
	if err != nil {
		_ = res.Close() // the error above is the one to report
		cancel()
		return nil, Props{}, s.wrap("get", name, err)
	}
	s.log.DebugContext(ctx, "get blob", "name", name, "size", info.Size)
	rc := &wrapReader{rc: res, wrap: func(err error) error { return s.wrap("read", name, err) }}
	return &closeFunc{ReadCloser: rc, done: cancel}, objectProps(info), nil
}

// Stat implements Container.
func (s *ObjectStore) Stat(ctx context.Context, name string) (Props, error) {
	if err := CheckName(name); err != nil {
		return Props{}, s.wrap("stat", name, err)
	}
	obs, err := s.store(ctx)
	if err != nil {
		return Props{}, s.wrap("stat", name, err)
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		return Props{}, s.wrap("stat", name, err)
	}
	return objectProps(info), nil
}

// List implements Container. The object store lists a bucket's whole
// directory of objects at once; the prefix is applied here.
func (s *ObjectStore) List(ctx context.Context, prefix string) iter.Seq2[Props, error] {
	return func(yield func(Props, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield(Props{}, s.wrap("list", prefix, err))
			return
		}
		obs, err := s.store(ctx)
		if err != nil {
			yield(Props{}, s.wrap("list", prefix, err))
			return
		}
		infos, err := obs.List(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
			yield(Props{}, s.wrap("list", prefix, err))
			return
		}
		var props []Props
		for _, info := range infos {
			if strings.HasPrefix(info.Name, prefix) && !info.Deleted {
				props = append(props, objectProps(info))
			}
		}
		slices.SortFunc(props, func(a, b Props) int { return strings.Compare(a.Name, b.Name) })
		for _, p := range props {
			if !yield(p, nil) {
				return
			}
		}
	}
}

// Delete implements Container.
func (s *ObjectStore) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return s.wrap("delete", name, err)
	}
	obs, err := s.store(ctx)
	if err != nil {
		return s.wrap("delete", name, err)
	}
	// obs.Delete also "deletes" a deleted object; a missing blob is ErrNotFound here.
	if _, err := obs.GetInfo(ctx, name); err != nil {
		return s.wrap("delete", name, err)
	}
	if err := obs.Delete(ctx, name); err != nil {
		return s.wrap("delete", name, err)
	}
	s.log.DebugContext(ctx, "deleted blob", "name", name)
	return nil
}

func objectProps(info *jetstream.ObjectInfo) Props {
	p := Props{Name: info.Name, Size: int64(info.Size), ETag: info.Digest, LastModified: info.ModTime}
	if info.Headers != nil {
		p.ContentType = info.Headers.Get("Content-Type")
	}
	return p
}

// wrap adds the operation, blob and container to err, and the sentinel
// that callers branch on.
func (s *ObjectStore) wrap(op, name string, err error) error {
	var kind error
	switch {
	case errors.Is(err, ErrInvalidName), errors.Is(err, ErrAccessDenied):
	case errors.Is(err, jetstream.ErrBucketNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
		kind, err = ErrNotFound, fmt.Errorf("container %s (bucket %s) does not exist", s.container, s.bucket)
	case errors.Is(err, jetstream.ErrObjectNotFound):
		kind = ErrNotFound
	case errors.Is(err, jetstream.ErrDigestMismatch):
		kind = ErrChecksumMismatch
	case errors.Is(err, nats.ErrPermissionViolation), errors.Is(err, nats.ErrAuthorization):
		kind = ErrAccessDenied
	}
	where := fmt.Sprintf("%s %q in container %s", op, name, s.container)
	if name == "" {
		where = fmt.Sprintf("%s %s", op, s.container)
	}
	if kind != nil {
		return fmt.Errorf("%s: %w: %w", where, kind, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}
