package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/apppkg"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker/run"
)

// AppsDir is the directory under the node root that holds the unpacked
// application packages, one directory "<application id>#<version>" each.
const AppsDir = "applications"

// appPackageMessage is the failureInfo message of a task whose packages
// could not be installed (Azure's wording).
const appPackageMessage = "One or more application packages specified for the task are invalid"

// appState is the node's application packages: the pool's (installed when
// the node starts, for every task) and a single-flight install per
// (application, version), kept for the node's lifetime.
type appState struct {
	poolRefs []batch.ApplicationPackageReference // the pool's references, read with the pool record

	// poolEnv is the environment of the installed pool packages; nil until
	// they are installed (empty when there are none).
	poolEnv atomic.Pointer[[]string]

	mu       sync.Mutex
	pool     []protocol.AppPackage // the pool's references, resolved; nil until resolved
	installs map[string]*appInstall
}

// appInstall is one (application, version) being or having been installed.
type appInstall struct {
	done chan struct{} // closed when the install ended
	dir  string
	err  error
}

// appEnvName is the variable that names a package's directory, as Azure
// sets it on Linux: AZ_BATCH_APP_PACKAGE_<id>[_<version>], every character
// that is not an ASCII letter or digit replaced by '_', case kept.
func appEnvName(appID, version string) string {
	n := "AZ_BATCH_APP_PACKAGE_" + appID
	if version != "" {
		n += "_" + version
	}
	b := []byte(n)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// appEnv is the environment of installed packages.
func appEnv(pkgs []protocol.AppPackage, dirs []string) []string {
	env := make([]string, 0, 2*len(pkgs))
	for i, p := range pkgs {
		env = append(env, appEnvName(p.ApplicationID, p.Version)+"="+dirs[i])
		if p.Default {
			env = append(env, appEnvName(p.ApplicationID, "")+"="+dirs[i])
		}
	}
	return env
}

// installPoolPackages installs the pool's application packages as the node
// starts. A failure is logged; each task retries it and fails with
// ApplicationPackageError while it fails.
func (w *Worker) installPoolPackages(ctx context.Context) {
	if len(w.apps.poolRefs) == 0 {
		w.apps.poolEnv.Store(&[]string{})
		return
	}
	if _, err := w.poolPackageEnv(ctx); err != nil {
		w.log.ErrorContext(ctx, "install pool application packages", "err", err)
	}
}

// poolPackageEnv resolves (once) and installs the pool's packages and
// returns their environment.
func (w *Worker) poolPackageEnv(ctx context.Context) ([]string, error) {
	a := &w.apps
	if env := a.poolEnv.Load(); env != nil {
		return *env, nil
	}
	a.mu.Lock()
	pkgs := a.pool
	a.mu.Unlock()
	if pkgs == nil {
		var err error
		if pkgs, err = w.resolvePoolPackages(ctx); err != nil {
			return nil, err
		}
	}
	dirs, err := w.installAll(ctx, pkgs)
	if err != nil {
		return nil, err
	}
	env := appEnv(pkgs, dirs)
	a.mu.Lock()
	a.pool = pkgs
	a.mu.Unlock()
	a.poolEnv.Store(&env)
	return env, nil
}

// resolvePoolPackages turns the pool's references into versions with the
// applications bucket (a reference without a version takes the default).
func (w *Worker) resolvePoolPackages(ctx context.Context) ([]protocol.AppPackage, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := w.js.KeyValue(ctx, topology.ApplicationsBucket)
	if err != nil {
		return nil, fmt.Errorf("applications bucket: %w", err)
	}
	out := make([]protocol.AppPackage, 0, len(w.apps.poolRefs))
	for _, ref := range w.apps.poolRefs {
		e, err := kv.Get(ctx, topology.ApplicationKey(w.cfg.Account, batch.Key(ref.ApplicationID)))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, &pkgError{ref: ref.ApplicationID + ":" + ref.Version, err: errors.New("the application does not exist")}
		}
		if err != nil {
			return nil, fmt.Errorf("read application %s: %w", ref.ApplicationID, err)
		}
		var a protocol.ApplicationRecord
		if err := json.Unmarshal(e.Value(), &a); err != nil {
			return nil, fmt.Errorf("decode application %s: %w", ref.ApplicationID, err)
		}
		want := ref.Version
		if want == "" {
			want = a.DefaultVersion
		}
		v, _ := a.Find(want)
		if want == "" || v == nil || v.State != protocol.PackageActive {
			return nil, &pkgError{ref: ref.ApplicationID + ":" + ref.Version, err: errors.New("the application package does not exist")}
		}
		out = append(out, protocol.AppPackage{ApplicationID: a.ID, Version: v.Version,
			Default: strings.EqualFold(v.Version, a.DefaultVersion)})
	}
	return out, nil
}

// installPackages installs the pool's and the task's application packages
// and returns the environment that names them. A task without packages on
// a pool without packages costs an atomic load and nothing else. When an install
// fails it returns the failed result the task ends with (no command runs).
func (w *Worker) installPackages(ctx context.Context, t *task) ([]string, *run.Result) {
	if env := w.apps.poolEnv.Load(); env != nil && len(t.tm.AppPackages) == 0 {
		return *env, nil
	}
	start := time.Now()
	env, err := w.poolPackageEnv(ctx)
	if err == nil && len(t.tm.AppPackages) > 0 {
		var dirs []string
		if dirs, err = w.installAll(ctx, t.tm.AppPackages); err == nil {
			env = append(env[:len(env):len(env)], appEnv(t.tm.AppPackages, dirs)...)
		}
	}
	if err == nil {
		return env, nil
	}
	now := time.Now()
	if ctx.Err() != nil {
		return nil, &run.Result{StartTime: start, EndTime: now, Interrupted: true}
	}
	w.log.WarnContext(ctx, "application package install failed", "job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "err", err)
	fi := &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: protocol.CodeAppPackage, Message: appPackageMessage}
	var pe *pkgError
	if errors.As(err, &pe) {
		fi.Details = []batch.NameValue{{Name: "ApplicationPackageReference", Value: pe.ref}, {Name: "Message", Value: pe.err.Error()}}
	} else {
		fi.Details = []batch.NameValue{{Name: "Message", Value: err.Error()}}
	}
	return nil, &run.Result{StartTime: start, EndTime: now, FailureInfo: fi}
}

// pkgError is a failed install of one package reference ("app:version").
type pkgError struct {
	ref string
	err error
}

func (e *pkgError) Error() string { return "application package " + e.ref + ": " + e.err.Error() }
func (e *pkgError) Unwrap() error { return e.err }

// installAll installs packages and returns their directories.
func (w *Worker) installAll(ctx context.Context, pkgs []protocol.AppPackage) ([]string, error) {
	dirs := make([]string, len(pkgs))
	for i, p := range pkgs {
		dir, err := w.install(ctx, p)
		if err != nil {
			return nil, &pkgError{ref: p.ApplicationID + ":" + p.Version, err: err}
		}
		dirs[i] = dir
	}
	return dirs, nil
}

// install installs one package once per node: concurrent callers wait for
// the first; a failed install is forgotten so that a later task retries.
func (w *Worker) install(ctx context.Context, p protocol.AppPackage) (string, error) {
	key := p.ApplicationID + "#" + p.Version
	a := &w.apps
	a.mu.Lock()
	if a.installs == nil {
		a.installs = map[string]*appInstall{}
	}
	in, ok := a.installs[key]
	if !ok {
		in = &appInstall{done: make(chan struct{})}
		a.installs[key] = in
	}
	a.mu.Unlock()
	if ok {
		select {
		case <-in.done:
			return in.dir, in.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	// The install outlives the caller's cancellation only as long as it
	// waits for it: others may be waiting too.
	in.dir, in.err = w.fetchPackage(context.WithoutCancel(ctx), p)
	if in.err != nil {
		a.mu.Lock()
		delete(a.installs, key)
		a.mu.Unlock()
	}
	close(in.done)
	return in.dir, in.err
}

// fetchPackage downloads a package's zip and unpacks it into
// <root>/applications/<id>#<version>: into a temporary directory first,
// renamed into place once complete, so that a directory that exists is
// whole (a package unpacked by an earlier run of the node is reused).
func (w *Worker) fetchPackage(ctx context.Context, p protocol.AppPackage) (string, error) {
	base := filepath.Join(w.rootDir, AppsDir)
	final := filepath.Join(base, p.ApplicationID+"#"+p.Version)
	if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		return final, nil
	}
	c, err := blob.NewObjectStore(w.js, topology.ApplicationsContainer, blob.Config{Account: w.cfg.Account})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	rc, _, err := c.Get(ctx, protocol.PackageBlob(p.ApplicationID, p.Version))
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	defer rc.Close()
	zf, err := os.CreateTemp(base, ".download-*.zip")
	if err != nil {
		return "", err
	}
	defer func() { _ = zf.Close(); _ = os.Remove(zf.Name()) }()
	n, err := io.Copy(zf, rc)
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	tmp, err := os.MkdirTemp(base, ".unpack-*")
	if err != nil {
		return "", err
	}
	if err := apppkg.Extract(ctx, zf, n, tmp, apppkg.Limits{}); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("unpack: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		if fi, serr := os.Stat(final); serr == nil && fi.IsDir() { // another process won
			return final, nil
		}
		return "", err
	}
	w.log.InfoContext(ctx, "application package installed", "application", p.ApplicationID, "version", p.Version, "dir", final)
	return final, nil
}
