package stage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
)

// download is one file to stage.
type download struct {
	dest   string      // relative to the working directory, clean
	mode   os.FileMode // permissions and setuid/setgid/sticky bits
	shown  string      // the source for messages (no SAS signature)
	ident  string      // the source for the cache key (no SAS)
	c      blob.Container
	name   string     // blob name in c
	props  blob.Props // as listed (container sources)
	rawURL string     // httpUrl source
}

// Stage downloads the resource files into the working directory wd
// (created if missing). It fails with an *Error naming the first file that
// could not be staged; files staged before stay. A done ctx ends it with
// ctx's error.
func (s *Stager) Stage(ctx context.Context, wd string, files []batch.ResourceFile) error {
	if len(files) == 0 {
		return nil
	}
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return &Error{Code: CodeResourceDirCreate, Err: err,
			Message: "The task working directory could not be created: " + err.Error()}
	}
	root, err := os.OpenRoot(wd)
	if err != nil {
		return &Error{Code: CodeResourceDirCreate, Err: err,
			Message: "The task working directory could not be opened: " + err.Error()}
	}
	defer root.Close()

	var all []download
	for _, rf := range files {
		ds, err := s.expand(ctx, rf)
		if err != nil {
			return err
		}
		all = append(all, ds...)
	}
	// A later resource file wins over an earlier one with the same path.
	seen := make(map[string]int, len(all))
	var todo []download
	for _, d := range all {
		if i, ok := seen[d.dest]; ok {
			todo[i] = d
			continue
		}
		seen[d.dest] = len(todo)
		todo = append(todo, d)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	for _, d := range todo {
		g.Go(func() error {
			if err := s.fetch(gctx, root, d); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return &Error{Code: downloadCode(err), Err: err,
					Message: fmt.Sprintf("The resource file %q could not be downloaded from %s: %v", d.dest, d.shown, err),
					Details: []batch.NameValue{{Name: "FilePath", Value: d.dest}, {Name: "Source", Value: d.shown}}}
			}
			return nil
		})
	}
	return g.Wait()
}

// invalid is the error of a resource file that cannot be staged as given.
func invalid(rf batch.ResourceFile, msg string, err error) *Error {
	src := cmpStr(rf.HTTPURL, rf.StorageContainerURL, rf.AutoStorageContainerName)
	m := "The resource file " + describe(rf) + " is invalid: " + msg
	return &Error{Code: CodeResourceFileCreate, Message: m, Err: err,
		Details: []batch.NameValue{{Name: "FilePath", Value: rf.FilePath}, {Name: "Source", Value: blob.Redact(src)}}}
}

func describe(rf batch.ResourceFile) string {
	if rf.FilePath != "" {
		return fmt.Sprintf("%q", rf.FilePath)
	}
	return "from " + blob.Redact(cmpStr(rf.HTTPURL, rf.StorageContainerURL, rf.AutoStorageContainerName))
}

func cmpStr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Validate checks a resource file as Stage will stage it: exactly one
// source, blobPrefix only with a container, a relative filePath that stays
// in the working directory (required with httpUrl), an octal fileMode.
func Validate(rf batch.ResourceFile) error {
	n := 0
	for _, src := range []string{rf.HTTPURL, rf.StorageContainerURL, rf.AutoStorageContainerName} {
		if src != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return errors.New("exactly one of httpUrl, storageContainerUrl and autoStorageContainerName must be set")
	case rf.HTTPURL != "" && rf.FilePath == "":
		return errors.New("filePath is required with httpUrl")
	case rf.HTTPURL != "" && rf.BlobPrefix != "":
		return errors.New("blobPrefix may only be used with a container source")
	}
	if _, err := parseMode(rf.FileMode); err != nil {
		return err
	}
	if rf.FilePath != "" {
		if _, err := cleanRel(rf.FilePath); err != nil {
			return fmt.Errorf("filePath %w", err)
		}
	}
	if rf.HTTPURL != "" {
		if _, err := resourceDest(rf.FilePath, ""); err != nil {
			return err
		}
	}
	if rf.AutoStorageContainerName != "" {
		if err := blob.CheckContainerName(rf.AutoStorageContainerName); err != nil {
			return fmt.Errorf("autoStorageContainerName: %w", err)
		}
	}
	return nil
}

// expand lists what a resource file stands for.
func (s *Stager) expand(ctx context.Context, rf batch.ResourceFile) ([]download, error) {
	if err := Validate(rf); err != nil {
		return nil, invalid(rf, err.Error(), err)
	}
	m, _ := parseMode(rf.FileMode)
	mode := fileMode(m)
	if rf.HTTPURL != "" {
		dest, _ := resourceDest(rf.FilePath, "")
		return []download{{dest: dest, mode: mode, shown: blob.Redact(rf.HTTPURL), ident: "http:" + stripSAS(rf.HTTPURL),
			rawURL: rf.HTTPURL}}, nil
	}
	ref, ident := rf.StorageContainerURL, ""
	if ref != "" {
		ident = "url:" + stripQuery(ref)
	} else {
		ref = rf.AutoStorageContainerName
		ident = "auto:" + s.cfg.Blob.Account + "/" + ref
		if s.cfg.Blob.ConnectionString != "" {
			ident = "auto-azure:" + blob.Redact(s.cfg.Blob.ConnectionString) + "/" + ref
		}
	}
	shown := blob.Redact(ref)
	c, err := blob.Open(ctx, ref, s.cfg.Blob)
	if err != nil {
		return nil, invalid(rf, err.Error(), err)
	}
	var out []download
	for p, err := range c.List(ctx, rf.BlobPrefix) {
		if err != nil {
			return nil, &Error{Code: downloadCode(err), Err: err,
				Message: fmt.Sprintf("The blobs of resource file %s could not be listed: %v", describe(rf), err),
				Details: []batch.NameValue{{Name: "FilePath", Value: rf.FilePath}, {Name: "Source", Value: shown}}}
		}
		if strings.HasSuffix(p.Name, "/") { // a directory marker
			continue
		}
		dest, err := resourceDest(rf.FilePath, p.Name)
		if err != nil {
			return nil, invalid(rf, err.Error(), err)
		}
		out = append(out, download{dest: dest, mode: mode, shown: shown + " (blob " + p.Name + ")",
			ident: ident + "/" + p.Name, c: c, name: p.Name, props: p})
	}
	if len(out) == 0 {
		msg := "no blob matches blobPrefix " + fmt.Sprintf("%q", rf.BlobPrefix) + " in " + shown
		if rf.BlobPrefix == "" {
			msg = "the container " + shown + " has no blobs"
		}
		return nil, &Error{Code: CodeBlobNotFound, Err: blob.ErrNotFound,
			Message: "The resource file " + describe(rf) + " could not be downloaded: " + msg,
			Details: []batch.NameValue{{Name: "FilePath", Value: rf.FilePath}, {Name: "Source", Value: shown}}}
	}
	return out, nil
}

// fileMode turns an octal Unix mode into an os.FileMode.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

const modeBits = os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky

// stripQuery drops a URL's query (a SAS token) for a cache identity.
func stripQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
	return u.String()
}

// sasParams are the query parameters of a SAS token.
var sasParams = map[string]bool{"sig": true, "se": true, "st": true, "sv": true, "sp": true, "sr": true, //nolint:gochecknoglobals // read-only table
	"spr": true, "sip": true, "si": true, "ss": true, "srt": true, "skoid": true, "sktid": true, "skt": true,
	"ske": true, "sks": true, "skv": true, "sdd": true, "ses": true}

// stripSAS drops the SAS parameters of a URL and keeps the others.
func stripSAS(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for k := range q {
		if sasParams[strings.ToLower(k)] {
			delete(q, k)
		}
	}
	u.RawQuery, u.Fragment = q.Encode(), ""
	return u.String()
}

// fetch stages one file: from the cache when it is there or can be put
// there, else straight into the working directory.
func (s *Stager) fetch(ctx context.Context, root *os.Root, d download) error {
	dir, base := path.Split(d.dest)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return local("create directory %q: %w", dir, err)
	}
	var (
		props  = d.props
		mu     sync.Mutex    // guards opened: a shared download may outlive this call
		opened io.ReadCloser // the body of the HTTP GET that read props, until used
	)
	take := func() io.ReadCloser {
		mu.Lock()
		defer mu.Unlock()
		rc := opened
		opened = nil
		return rc
	}
	open := func(ctx context.Context) (io.ReadCloser, error) {
		if rc := take(); rc != nil {
			return rc, nil
		}
		if d.rawURL != "" {
			rc, _, err := s.http.Get(ctx, d.rawURL)
			return rc, err
		}
		rc, _, err := d.c.Get(ctx, d.name)
		return rc, err
	}
	if d.rawURL != "" {
		rc, p, err := s.http.Get(ctx, d.rawURL)
		if err != nil {
			return err
		}
		opened, props = rc, p
		defer func() {
			if rc := take(); rc != nil {
				_ = rc.Close()
			}
		}()
	}
	if s.cache != nil && props.Size >= 0 {
		if key := cacheKey(d.ident, props.ETag, props.ContentMD5, props.Size); key != "" {
			if err := s.cache.load(); err != nil {
				s.log.WarnContext(ctx, "blob cache unavailable", "err", err)
			} else {
				p, release, ok, err := s.cache.fill(ctx, key, props.Size, d.mode, open)
				if err != nil {
					return err
				}
				if ok {
					defer release()
					return placeCached(root, dir, base, p, d.mode)
				}
			}
		}
	}
	rc, err := open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	return writeFile(root, dir, base, rc, d.mode)
}

// tmpName is a fresh name for a file being staged.
func tmpName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return ".natch-stage-" + hex.EncodeToString(b[:])
}

// writeFile writes r to dir/base inside root, atomically (a temporary file
// renamed into place), with the given mode.
func writeFile(root *os.Root, dir, base string, r io.Reader, mode os.FileMode) error {
	tmp := path.Join(dir, tmpName())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return local("create %q: %w", path.Join(dir, base), err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		if err = f.Chmod(mode); err != nil {
			err = local("chmod %q: %w", path.Join(dir, base), err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = local("write %q: %w", path.Join(dir, base), cerr)
	}
	if err == nil {
		if err = root.Rename(tmp, path.Join(dir, base)); err != nil {
			err = local("create %q: %w", path.Join(dir, base), err)
		}
	}
	if err != nil {
		_ = root.Remove(tmp)
		var pe *os.PathError
		if errors.As(err, &pe) && !errors.As(err, &localError{}) && pe.Op == "write" {
			return local("write %q: %w", path.Join(dir, base), err)
		}
		return err
	}
	return nil
}

// placeCached puts the cached file src at dir/base: a hard link when the
// cached file has the wanted mode (and linking works), else a copy.
func placeCached(root *os.Root, dir, base, src string, mode os.FileMode) error {
	if fi, err := os.Stat(src); err == nil && fi.Mode()&modeBits == mode {
		tmp := tmpName()
		if err := linkInto(root, dir, tmp, src); err == nil {
			if err := root.Rename(path.Join(dir, tmp), path.Join(dir, base)); err != nil {
				_ = root.Remove(path.Join(dir, tmp))
				return local("create %q: %w", path.Join(dir, base), err)
			}
			return nil
		}
	}
	f, err := os.Open(src)
	if err != nil {
		return local("blob cache: %w", err)
	}
	defer f.Close()
	return writeFile(root, dir, base, f, mode)
}
