// Package apppkg checks and unpacks application packages: the zip files
// that natch stores per application version and unpacks on compute nodes.
//
// The same checks run twice: when a package is published (the dispatcher
// refuses a bad zip and stores nothing) and when a node unpacks it (the
// bytes might have changed in storage since). A package is refused when
//
//   - it is not a readable zip;
//   - it has more than Limits.MaxEntries entries;
//   - an entry name is absolute, has a drive letter, a backslash, a NUL or
//     a ".." segment, or appears twice (zip slip);
//   - an entry is a symbolic link, a device, a pipe or a socket: natch
//     refuses every symbolic link rather than judging where it points, so
//     that no entry can redirect a later one outside the package directory;
//   - an entry expands more than Limits.MaxRatio times its compressed size
//     (entries under ratioFloor bytes are exempt), or all entries together
//     expand past Limits.MaxTotalSize (zip bombs).
//
// Extraction writes through an os.Root, so even a check this package
// missed cannot write outside the target directory, and it counts the bytes
// it really writes rather than trusting the sizes the zip declares.
package apppkg

import (
	"archive/zip"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// ErrInvalid matches every *Error: a package that Check or Extract refuses.
var ErrInvalid = errors.New("invalid application package")

// Error is a refused package: the offending entry (empty for the zip as a
// whole) and the reason.
type Error struct {
	Entry  string
	Reason string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Entry == "" {
		return "invalid application package: " + e.Reason
	}
	return fmt.Sprintf("invalid application package: entry %q: %s", e.Entry, e.Reason)
}

// Is matches ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func invalid(entry, format string, args ...any) *Error {
	return &Error{Entry: entry, Reason: fmt.Sprintf(format, args...)}
}

// ratioFloor is the uncompressed size under which an entry's expansion
// ratio is not checked: small files of repeated bytes compress well and
// harm nobody.
const ratioFloor = 1 << 20

// Limits bound what a package may expand to. The zero value means the
// defaults.
type Limits struct {
	// MaxEntries is the most entries (files and directories). Defaults to 100000.
	MaxEntries int
	// MaxTotalSize is the most bytes all files together expand to.
	// Defaults to 16 GiB.
	MaxTotalSize int64
	// MaxRatio is the most an entry of at least 1 MiB may expand relative
	// to its compressed size. Defaults to 100.
	MaxRatio int64
}

func (l Limits) withDefaults() Limits {
	l.MaxEntries = cmp.Or(l.MaxEntries, 100000)
	l.MaxTotalSize = cmp.Or(l.MaxTotalSize, 16<<30)
	l.MaxRatio = cmp.Or(l.MaxRatio, 100)
	return l
}

// Check validates a package without unpacking it: every rule of the package
// documentation that the zip's central directory can show. It returns the
// number of entries and the total uncompressed size.
func Check(r io.ReaderAt, size int64, l Limits) (entries int, total int64, err error) {
	_, entries, total, err = open(r, size, l)
	return entries, total, err
}

// open reads and checks the central directory.
func open(r io.ReaderAt, size int64, l Limits) (*zip.Reader, int, int64, error) {
	l = l.withDefaults()
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, 0, 0, invalid("", "not a valid zip file: %v", err)
	}
	if len(zr.File) > l.MaxEntries {
		return nil, 0, 0, invalid("", "%d entries, more than the limit of %d", len(zr.File), l.MaxEntries)
	}
	seen := make(map[string]bool, len(zr.File))
	var total int64
	for _, f := range zr.File {
		name, err := checkName(f.Name)
		if err != nil {
			return nil, 0, 0, err
		}
		if seen[name] {
			return nil, 0, 0, invalid(f.Name, "appears more than once")
		}
		seen[name] = true
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			return nil, 0, 0, invalid(f.Name, "is a symbolic link; application packages may not contain links")
		case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
			return nil, 0, 0, invalid(f.Name, "is not a regular file or directory (mode %s)", mode)
		case mode.IsDir():
			continue
		}
		u, c := f.UncompressedSize64, f.CompressedSize64
		if u > uint64(l.MaxTotalSize) || total+int64(u) > l.MaxTotalSize {
			return nil, 0, 0, invalid(f.Name, "the package expands to more than the limit of %d bytes", l.MaxTotalSize)
		}
		total += int64(u)
		if u >= ratioFloor && (c == 0 || u/c > uint64(l.MaxRatio)) {
			return nil, 0, 0, invalid(f.Name, "expands from %d to %d bytes, more than %d times (a zip bomb?)", c, u, l.MaxRatio)
		}
	}
	return zr, len(zr.File), total, nil
}

// checkName returns the cleaned relative path of an entry, or why it may
// not be written.
func checkName(name string) (string, error) {
	switch {
	case name == "":
		return "", invalid(name, "has an empty name")
	case strings.ContainsAny(name, "\\\x00"):
		return "", invalid(name, "has a backslash or NUL in its name")
	case strings.HasPrefix(name, "/"):
		return "", invalid(name, "is an absolute path")
	case len(name) >= 2 && name[1] == ':':
		return "", invalid(name, "has a drive letter")
	}
	for _, seg := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if seg == ".." {
			return "", invalid(name, "has a \"..\" path segment (zip slip)")
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", invalid(name, "names the package directory itself")
	}
	return clean, nil
}

// Extract checks the package and unpacks it into dir, which must exist and
// should be empty. Files get mode 0755 when the zip marks them executable
// and 0644 otherwise. On error dir holds a partial tree: unpack into a
// temporary directory and rename it into place on success.
func Extract(ctx context.Context, r io.ReaderAt, size int64, dir string, l Limits) error {
	l = l.withDefaults()
	zr, _, _, err := open(r, size, l)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer root.Close()
	var written int64
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, _ := checkName(f.Name) // checked by open
		if f.Mode().IsDir() {
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("extract %q: %w", f.Name, err)
			}
			continue
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("extract %q: %w", f.Name, err)
			}
		}
		n, err := extractFile(root, f, name, l.MaxTotalSize-written)
		written += n
		if err != nil {
			return err
		}
	}
	return nil
}

// extractFile writes one file entry, at most budget bytes.
func extractFile(root *os.Root, f *zip.File, name string, budget int64) (int64, error) {
	perm := os.FileMode(0o644)
	if f.Mode()&0o111 != 0 {
		perm = 0o755
	}
	rc, err := f.Open()
	if err != nil {
		return 0, invalid(f.Name, "cannot be read: %v", err)
	}
	defer rc.Close()
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, fmt.Errorf("extract %q: %w", f.Name, err)
	}
	// Never trust the declared size: copy at most the budget (+1 to see
	// an overflow) and at most the declared size (+1 to see a lie).
	limit := min(budget, int64(min(f.UncompressedSize64, 1<<62))) + 1
	n, err := io.Copy(out, io.LimitReader(rc, limit))
	if cerr := out.Close(); err == nil && cerr != nil {
		return n, fmt.Errorf("extract %q: %w", f.Name, cerr)
	}
	switch {
	case errors.Is(err, zip.ErrFormat), errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrAlgorithm):
		return n, invalid(f.Name, "is corrupt: %v", err)
	case err != nil:
		return n, fmt.Errorf("extract %q: %w", f.Name, err)
	case n >= limit && n > budget:
		return n, invalid(f.Name, "the package expands to more than its size limit")
	case uint64(n) != f.UncompressedSize64:
		return n, invalid(f.Name, "holds %d bytes, not the %d its header declares", n, f.UncompressedSize64)
	}
	return n, nil
}
