package stage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/bmatcuk/doublestar/v4"
	"golang.org/x/sync/errgroup"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
)

// Upload conditions (compared case-insensitively).
const (
	UploadOnSuccess    = "tasksuccess"
	UploadOnFailure    = "taskfailure"
	UploadOnCompletion = "taskcompletion"
)

// Diagnostics files Upload writes into the task directory, as Azure does.
const (
	UploadOutFile = "fileuploadout.txt"
	UploadErrFile = "fileuploaderr.txt"
)

// upload is one file to upload.
type upload struct {
	file    string // relative to the task directory
	blob    string
	c       blob.Container
	shown   string // the container for messages (no SAS signature)
	pattern string
	opts    *blob.PutOpts
}

// ShouldUpload reports whether an output file with this uploadCondition is
// uploaded after a process that exited with exitCode. An empty condition
// is taskcompletion.
func ShouldUpload(condition string, exitCode int) (bool, error) {
	switch strings.ToLower(condition) {
	case UploadOnSuccess:
		return exitCode == 0, nil
	case UploadOnFailure:
		return exitCode != 0, nil
	case UploadOnCompletion, "":
		return true, nil
	}
	return false, fmt.Errorf("uploadCondition %q: want tasksuccess, taskfailure or taskcompletion", condition)
}

// ValidateOutput checks an output file as Upload will use it.
func ValidateOutput(of batch.OutputFile) error {
	if _, err := parsePattern(of.FilePattern); err != nil {
		return err
	}
	if of.Destination.Container == nil || of.Destination.Container.ContainerURL == "" {
		return errors.New("destination.container.containerUrl is required")
	}
	if p := of.Destination.Container.Path; p != "" {
		if _, err := cleanRel(strings.Trim(p, "/")); err != nil {
			return fmt.Errorf("destination path %w", err)
		}
	}
	_, err := ShouldUpload(of.UploadOptions.UploadCondition, 0)
	return err
}

// Upload uploads, from the task directory taskDir, the output files whose
// uploadCondition matches the process's exitCode. Patterns are relative to
// taskDir/wd; a wildcard pattern that matches nothing uploads nothing, a
// pattern without wildcards must name an existing file. Every file is
// tried; the result is an *Error (FileUploadMiscError) naming the first
// that failed. What was uploaded and what failed is written to
// fileuploadout.txt and fileuploaderr.txt in taskDir.
func (s *Stager) Upload(ctx context.Context, taskDir string, files []batch.OutputFile, exitCode int) error {
	if len(files) == 0 {
		return nil
	}
	root, err := os.OpenRoot(taskDir)
	if err != nil {
		return &Error{Code: CodeFileUploadMiscError, Err: err,
			Message: "The task directory could not be opened for uploading output files: " + err.Error()}
	}
	defer root.Close()

	var (
		mu       sync.Mutex
		firstErr *Error
		out, bad strings.Builder
	)
	fail := func(e *Error) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(&bad, e.Message)
		if firstErr == nil {
			firstErr = e
		}
	}
	var todo []upload
	for _, of := range files {
		ups, err := s.plan(ctx, root, of, exitCode)
		if err != nil {
			fail(err)
			continue
		}
		todo = append(todo, ups...)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	for _, u := range todo {
		g.Go(func() error {
			n, err := put(gctx, root, u)
			if err != nil {
				fail(&Error{Code: CodeFileUploadMiscError, Err: err,
					Message: fmt.Sprintf("The output file %q could not be uploaded to %s as %q: %v", u.file, u.shown, u.blob, err),
					Details: []batch.NameValue{{Name: "FilePattern", Value: u.pattern}, {Name: "FilePath", Value: u.file},
						{Name: "Destination", Value: u.shown + "/" + u.blob}}})
				return nil
			}
			mu.Lock()
			fmt.Fprintf(&out, "uploaded %s to %s as %s (%d bytes)\n", u.file, u.shown, u.blob, n)
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait() // failures are collected by fail
	s.diagnostics(root, out.String(), bad.String())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if firstErr != nil {
		return firstErr
	}
	return nil
}

// plan resolves one output file into uploads.
func (s *Stager) plan(ctx context.Context, root *os.Root, of batch.OutputFile, exitCode int) ([]upload, *Error) {
	bad := func(msg string, err error) *Error {
		return &Error{Code: CodeFileUploadMiscError, Err: err,
			Message: fmt.Sprintf("The output file pattern %q: %s", of.FilePattern, msg),
			Details: []batch.NameValue{{Name: "FilePattern", Value: of.FilePattern}}}
	}
	if err := ValidateOutput(of); err != nil {
		return nil, bad(err.Error(), err)
	}
	if ok, _ := ShouldUpload(of.UploadOptions.UploadCondition, exitCode); !ok {
		return nil, nil
	}
	p, _ := parsePattern(of.FilePattern)
	dest := of.Destination.Container
	shown := blob.Redact(dest.ContainerURL)
	c, err := blob.Open(ctx, dest.ContainerURL, s.cfg.Blob)
	if err != nil {
		return nil, bad("destination container: "+err.Error(), err)
	}
	var opts *blob.PutOpts
	for _, h := range dest.UploadHeaders {
		if strings.EqualFold(h.Name, "Content-Type") {
			opts = &blob.PutOpts{ContentType: h.Value}
		}
	}
	var matches []string
	if p.Glob == "" {
		matches = []string{p.Base}
	} else {
		matches, err = doublestar.Glob(root.FS(), p.Full(), doublestar.WithFilesOnly(), doublestar.WithNoHidden(),
			doublestar.WithFailOnIOErrors())
		if err != nil {
			return nil, bad("matching files: "+err.Error(), err)
		}
	}
	ups := make([]upload, 0, len(matches))
	for _, m := range matches {
		ups = append(ups, upload{file: m, blob: outputBlobName(p, m, dest.Path), c: c, shown: shown,
			pattern: of.FilePattern, opts: opts})
	}
	return ups, nil
}

// put uploads one file, streaming it.
func put(ctx context.Context, root *os.Root, u upload) (int64, error) {
	f, err := root.Open(u.file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", u.file)
	}
	if _, err := u.c.Put(ctx, u.blob, f, fi.Size(), u.opts); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// diagnostics writes fileuploadout.txt and fileuploaderr.txt (the latter
// only when something failed).
func (s *Stager) diagnostics(root *os.Root, out, bad string) {
	write := func(name, text string) {
		if err := root.WriteFile(name, []byte(text), 0o644); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("write upload diagnostics", "file", name, "err", err)
		}
	}
	write(UploadOutFile, out)
	if bad != "" {
		write(UploadErrFile, bad)
	} else {
		_ = root.Remove(UploadErrFile)
	}
}
