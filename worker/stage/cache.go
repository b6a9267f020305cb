package stage

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// cacheKey identifies a blob's content: its source without credentials,
// its ETag, Content-MD5 and size. It is empty (not cacheable) when the
// store gives neither an ETag nor an MD5.
func cacheKey(source, etag string, md5 []byte, size int64) string {
	if etag == "" && md5 == nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%x\n%d", source, etag, md5, size)
	return hex.EncodeToString(h.Sum(nil))
}

// cache is the node's blob cache: <dir>/<key[:2]>/<key>, and <dir>/tmp
// for downloads in progress.
type cache struct {
	dir string
	max int64
	log *slog.Logger

	loadOnce sync.Once
	loadErr  error
	flight   singleflight.Group

	mu      sync.Mutex // guards the fields below
	entries map[string]*entry
	lru     list.List // of *entry, most recently used first
	size    int64
}

// entry is a cached blob.
type entry struct {
	key   string
	size  int64
	mtime time.Time // of the file when cached: a change means a task wrote to it
	refs  int       // tasks linking it right now; not evicted while > 0
	elem  *list.Element
}

func newCache(dir string, maxBytes int64, log *slog.Logger) *cache {
	return &cache{dir: dir, max: maxBytes, log: log, entries: map[string]*entry{}}
}

func (c *cache) path(key string) string { return filepath.Join(c.dir, key[:2], key) }

// load reads the cache directory once: cached blobs survive worker
// restarts (oldest modification first in the LRU), downloads that were in
// progress do not.
func (c *cache) load() error {
	c.loadOnce.Do(func() {
		if err := os.RemoveAll(filepath.Join(c.dir, "tmp")); err != nil {
			c.loadErr = fmt.Errorf("blob cache: clear tmp: %w", err)
			return
		}
		if err := os.MkdirAll(filepath.Join(c.dir, "tmp"), 0o700); err != nil {
			c.loadErr = fmt.Errorf("blob cache: %w", err)
			return
		}
		var found []*entry
		_ = filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || len(d.Name()) != 64 {
				return nil //nolint:nilerr // an unreadable entry is just not cached
			}
			fi, err := d.Info()
			if err != nil || !fi.Mode().IsRegular() || filepath.Base(filepath.Dir(p)) != d.Name()[:2] {
				return nil //nolint:nilerr // see above
			}
			found = append(found, &entry{key: d.Name(), size: fi.Size(), mtime: fi.ModTime()})
			return nil
		})
		slices.SortFunc(found, func(a, b *entry) int { return b.mtime.Compare(a.mtime) })
		c.mu.Lock()
		for _, e := range found {
			c.entries[e.key] = e
			e.elem = c.lru.PushBack(e)
			c.size += e.size
		}
		c.mu.Unlock()
		c.evict()
	})
	return c.loadErr
}

// lookup returns the path of a cached blob and holds it (release must be
// called), or ok=false on a miss. A cached file that changed is dropped.
func (c *cache) lookup(key string) (p string, release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil {
		return "", nil, false
	}
	p = c.path(key)
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != e.size || !fi.ModTime().Equal(e.mtime) {
		c.dropLocked(e)
		return "", nil, false
	}
	e.refs++
	c.lru.MoveToFront(e.elem)
	return p, func() {
		c.mu.Lock()
		e.refs--
		c.mu.Unlock()
	}, true
}

// dropLocked forgets an entry and removes its file.
func (c *cache) dropLocked(e *entry) {
	delete(c.entries, e.key)
	c.lru.Remove(e.elem)
	c.size -= e.size
	_ = os.Remove(c.path(e.key))
}

// fill returns the cached blob, downloading it with open on a miss; one
// download per key at a time, shared by concurrent callers. mode is the
// mode the file gets when this call downloads it. ok is false when the
// blob was not cached (too large, or the cache failed): the caller then
// downloads it itself.
func (c *cache) fill(ctx context.Context, key string, size int64, mode os.FileMode,
	open func(context.Context) (io.ReadCloser, error)) (p string, release func(), ok bool, err error) {
	if size > c.max {
		return "", nil, false, nil
	}
	for try := 0; ; try++ {
		if p, release, ok := c.lookup(key); ok {
			return p, release, true, nil
		}
		ch := c.flight.DoChan(key, func() (any, error) {
			// A download that ended between our lookup and this flight
			// has cached it already.
			if _, release, ok := c.lookup(key); ok {
				release()
				return nil, nil
			}
			return nil, c.download(ctx, key, mode, open)
		})
		var res singleflight.Result
		select {
		case res = <-ch:
		case <-ctx.Done():
			return "", nil, false, ctx.Err()
		}
		switch {
		case res.Err == nil:
			// It may be evicted already when the cache is small and busy;
			// then the caller downloads it outside the cache.
			if p, release, ok := c.lookup(key); ok {
				return p, release, true, nil
			}
			return "", nil, false, nil
		case errors.Is(res.Err, context.Canceled) && ctx.Err() == nil && try < 3:
			// Another task's download was cancelled; try ours.
		default:
			return "", nil, false, res.Err
		}
	}
}

// download fetches a blob into the cache.
func (c *cache) download(ctx context.Context, key string, mode os.FileMode, open func(context.Context) (io.ReadCloser, error)) error {
	rc, err := open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(c.dir, "tmp", hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return local("blob cache: %w", err)
	}
	n, err := io.Copy(f, rc)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = local("blob cache: %w", cerr)
	}
	if err != nil {
		_ = os.Remove(tmp)
		var pe *os.PathError
		if errors.As(err, &pe) {
			return local("blob cache: %w", err)
		}
		return err
	}
	dst := c.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		_ = os.Remove(tmp)
		return local("blob cache: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return local("blob cache: %w", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return local("blob cache: %w", err)
	}
	e := &entry{key: key, size: n, mtime: fi.ModTime()}
	c.mu.Lock()
	if old := c.entries[key]; old != nil {
		c.lru.Remove(old.elem)
		c.size -= old.size
	}
	c.entries[key] = e
	e.elem = c.lru.PushFront(e)
	c.size += n
	c.mu.Unlock()
	c.evict()
	return nil
}

// evict removes the least recently used blobs not in use until the cache
// fits its bound.
func (c *cache) evict() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.lru.Back(); el != nil && c.size > c.max; {
		prev := el.Prev()
		if e := el.Value.(*entry); e.refs == 0 {
			c.log.Debug("blob cache: evict", "key", e.key, "size", e.size)
			c.dropLocked(e)
		}
		el = prev
	}
}

// stats returns the number of cached blobs and their bytes.
func (c *cache) stats() (n int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.size
}
