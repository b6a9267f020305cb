package stage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
)

// failureInfo codes, as Azure Batch names them.
const (
	CodeBlobNotFound          = "BlobNotFound"
	CodeBlobAccessDenied      = "BlobAccessDenied"
	CodeBlobDownloadTimedOut  = "BlobDownloadTimedOut"
	CodeBlobDownloadMiscError = "BlobDownloadMiscError"
	CodeResourceDirCreate     = "ResourceDirectoryCreateFailed"
	CodeResourceFileCreate    = "ResourceFileCreateFailed"
	CodeResourceFileWrite     = "ResourceFileWriteFailed"
	CodeDiskFull              = "DiskFull"
	CodeFileUploadMiscError   = "FileUploadMiscError"
)

// DefaultFileMode is the mode of a resource file without fileMode (Azure's
// default on Linux).
const DefaultFileMode os.FileMode = 0o770

// Defaults of Config.
const (
	DefaultParallel      = 8
	DefaultCacheMaxBytes = 4 << 30
)

// Config configures a Stager.
type Config struct {
	// Blob opens containers: Account and JetStream for the object store
	// (the default auto-storage), ConnectionString for Azure auto-storage,
	// HTTPClient for Azure and httpUrl downloads.
	Blob blob.Config
	// CacheDir is the node's blob cache directory. Empty disables the cache.
	CacheDir string
	// CacheMaxBytes bounds the cache; the least recently used blobs are
	// evicted beyond it. Defaults to DefaultCacheMaxBytes (4 GiB).
	CacheMaxBytes int64
	// Parallel is how many files one Stage or Upload transfers at once.
	// Defaults to DefaultParallel.
	Parallel int
	// Logger defaults to discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.CacheMaxBytes = cmp.Or(c.CacheMaxBytes, DefaultCacheMaxBytes)
	c.Parallel = cmp.Or(c.Parallel, DefaultParallel)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stager stages resource files into task directories and uploads output
// files from them. It is safe for concurrent use by many tasks.
type Stager struct {
	cfg   Config
	http  *blob.HTTP
	cache *cache // nil when disabled
	log   *slog.Logger
}

// New returns a Stager. It does no I/O: the cache is read on first use.
func New(cfg Config) (*Stager, error) {
	cfg = cfg.withDefaults()
	if cfg.Parallel < 0 || cfg.CacheMaxBytes < 0 {
		return nil, errors.New("stage: Parallel and CacheMaxBytes must not be negative")
	}
	s := &Stager{cfg: cfg, http: blob.NewHTTP(cfg.Blob), log: cfg.Logger.With("component", "stage")}
	if cfg.CacheDir != "" {
		s.cache = newCache(cfg.CacheDir, cfg.CacheMaxBytes, s.log)
	}
	return s, nil
}

// Error is a staging or upload failure as Azure Batch reports it in a
// task's executionInfo.failureInfo (category usererror).
type Error struct {
	Code    string            // failureInfo code, e.g. BlobNotFound
	Message string            // failureInfo message; names the file
	Details []batch.NameValue // failureInfo details (FilePath, Source, …)
	Err     error             // the cause
}

// Error returns the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// FailureInfo is the task failureInfo the error stands for.
func (e *Error) FailureInfo() *batch.TaskFailureInformation {
	return &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: e.Code, Message: e.Message,
		Details: e.Details}
}

// downloadCode classifies a resource file failure.
func downloadCode(err error) string {
	var pe *os.PathError
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return CodeDiskFull
	case errors.Is(err, blob.ErrNotFound):
		return CodeBlobNotFound
	case errors.Is(err, blob.ErrAccessDenied):
		return CodeBlobAccessDenied
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return CodeBlobDownloadTimedOut
	case errors.As(err, &localError{}):
		if errors.As(err, &pe) && pe.Op == "write" {
			return CodeResourceFileWrite
		}
		return CodeResourceFileCreate
	}
	return CodeBlobDownloadMiscError
}

// localError marks a failure of the node's file system (not of the
// store), so that it is reported as ResourceFileCreateFailed/WriteFailed.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

// local wraps a local file system error with context.
func local(format string, args ...any) error {
	return localError{fmt.Errorf(format, args...)}
}
