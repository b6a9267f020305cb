package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/shared/protocol"
)

// Headers of a protocol.CmdFileRead reply: the FileInfo of the file read, so
// that the body can carry the raw bytes. Read them with FileInfoFromHeader.
const (
	// HeaderFileName is the file's base name.
	HeaderFileName = "Natch-File-Name"
	// HeaderFileSize is the file's whole size in bytes (decimal), not the
	// size of the chunk in the body.
	HeaderFileSize = "Natch-File-Size"
	// HeaderFileMode is the file mode as Azure reports it, e.g. "0o100644".
	HeaderFileMode = "Natch-File-Mode"
	// HeaderFileCreationTime is the file's creation time, RFC 3339 with
	// nanoseconds (the inode change time: Linux reports no birth time
	// portably).
	HeaderFileCreationTime = "Natch-File-Creation-Time"
	// HeaderFileModTime is the file's last modification time, RFC 3339 with
	// nanoseconds.
	HeaderFileModTime = "Natch-File-Mod-Time"
	// HeaderFileOffset is the offset in the file of the first byte of the
	// body.
	HeaderFileOffset = "Natch-File-Offset"
	// HeaderListTruncated is set to "true" on a protocol.CmdFileList reply
	// that had to leave entries out to fit in one NATS message.
	HeaderListTruncated = "Natch-List-Truncated"
)

// Error codes of node command replies (values of protocol.ErrorHeader).
const (
	CodeFileNotFound = "FileNotFound"
	CodeInvalidInput = "InvalidInput"
	CodeTaskNotFound = "TaskNotFound"
)

// FileInfoFromHeader reads the FileInfo of a protocol.CmdFileRead reply.
func FileInfoFromHeader(h nats.Header) (protocol.FileInfo, error) {
	fi := protocol.FileInfo{Name: h.Get(HeaderFileName), Mode: h.Get(HeaderFileMode)}
	var err error
	if fi.Size, err = strconv.ParseInt(h.Get(HeaderFileSize), 10, 64); err != nil {
		return fi, fmt.Errorf("%s: %w", HeaderFileSize, err)
	}
	if fi.CreationTime, err = time.Parse(time.RFC3339Nano, h.Get(HeaderFileCreationTime)); err != nil {
		return fi, fmt.Errorf("%s: %w", HeaderFileCreationTime, err)
	}
	if fi.ModTime, err = time.Parse(time.RFC3339Nano, h.Get(HeaderFileModTime)); err != nil {
		return fi, fmt.Errorf("%s: %w", HeaderFileModTime, err)
	}
	return fi, nil
}

// cmdError is a node command failure: an Azure error code and a message.
type cmdError struct{ code, msg string }

func (e *cmdError) Error() string { return e.code + ": " + e.msg }

var errFileNotFound = &cmdError{CodeFileNotFound, "The specified file does not exist."}

// cleanPath turns a path relative to the root directory into an fs.FS path.
// Absolute paths and ".." are refused; symlinks are resolved later, inside
// the os.Root, which refuses any that lead out of it.
func cleanPath(p string) (string, error) {
	if strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		return "", &cmdError{CodeInvalidInput, "The file path must be relative to the node's root directory."}
	}
	p = strings.TrimRight(p, "/")
	if p == "" || p == "." {
		return ".", nil
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == ".." {
			return "", &cmdError{CodeInvalidInput, "The file path must not contain '..'."}
		}
	}
	p = path.Clean(p)
	if !fs.ValidPath(p) {
		return "", &cmdError{CodeInvalidInput, "The file path is not valid."}
	}
	return p, nil
}

// fileErr maps a file system error to a command error. Anything but a
// plain "not found" (for instance a symlink out of the root) is reported as
// not found too, so that nothing outside the root is revealed.
func fileErr(err error) error {
	var ce *cmdError
	if errors.As(err, &ce) {
		return ce
	}
	return errFileNotFound
}

// resolved retries a path that the os.Root refused (an absolute symlink,
// even one that points inside the root) with its symlinks resolved: if the
// result is inside the root, it is returned relative to it. The os.Root
// still confines whatever is opened with it.
func (w *Worker) resolved(p string, err error) (string, error) {
	if errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	real, rerr := filepath.EvalSymlinks(filepath.Join(w.rootDir, filepath.FromSlash(p)))
	if rerr != nil {
		return "", err
	}
	rel, rerr := filepath.Rel(w.rootDir, real)
	if rerr != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

// stat is os.Root.Stat with absolute symlinks inside the root followed.
func (w *Worker) stat(p string) (string, fs.FileInfo, error) {
	fi, err := w.root.Stat(p)
	if err == nil {
		return p, fi, nil
	}
	if p, err = w.resolved(p, err); err != nil {
		return "", nil, err
	}
	fi, err = w.root.Stat(p)
	return p, fi, err
}

// fileInfo converts fs info to the protocol's FileInfo.
func fileInfo(name string, fi fs.FileInfo) protocol.FileInfo {
	out := protocol.FileInfo{
		Name:         name,
		IsDirectory:  fi.IsDir(),
		Size:         fi.Size(),
		ModTime:      fi.ModTime().UTC(),
		CreationTime: fi.ModTime().UTC(),
		Mode:         fmt.Sprintf("0o%o", uint32(fi.Mode().Perm())),
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Mode = fmt.Sprintf("0o%o", st.Mode)
		out.CreationTime = time.Unix(st.Ctim.Sec, st.Ctim.Nsec).UTC()
	}
	if out.IsDirectory {
		out.Size = 0
	}
	return out
}

// fileStat serves protocol.CmdFileStat.
func (w *Worker) fileStat(req protocol.FileRequest) (protocol.FileInfo, error) {
	p, err := cleanPath(req.Path)
	if err != nil {
		return protocol.FileInfo{}, err
	}
	_, fi, err := w.stat(p)
	if err != nil {
		return protocol.FileInfo{}, fileErr(err)
	}
	return fileInfo(path.Base(p), fi), nil
}

// CodeDirectoryNotEmpty is the reply error of a delete of a non-empty
// directory without Recursive.
const CodeDirectoryNotEmpty = "DirectoryNotEmpty"

// fileDelete serves protocol.CmdFileDelete. A symlink is deleted, not what
// it points to; the root itself cannot be deleted.
func (w *Worker) fileDelete(req protocol.FileRequest) error {
	p, err := cleanPath(req.Path)
	if err != nil {
		return err
	}
	if p == "." {
		return &cmdError{CodeInvalidInput, "The node's root directory cannot be deleted."}
	}
	fi, err := w.root.Lstat(p)
	if err != nil {
		return fileErr(err)
	}
	if fi.IsDir() && req.Recursive {
		err = w.root.RemoveAll(p)
	} else {
		err = w.root.Remove(p)
	}
	if err != nil && fi.IsDir() && !req.Recursive {
		return &cmdError{CodeDirectoryNotEmpty, "The directory is not empty; delete it with recursive=true."}
	}
	if err != nil {
		return fileErr(err)
	}
	return nil
}

// fileRead serves protocol.CmdFileRead: up to MaxFileChunk bytes from Offset.
func (w *Worker) fileRead(req protocol.FileRequest) (protocol.FileInfo, []byte, error) {
	p, err := cleanPath(req.Path)
	if err != nil {
		return protocol.FileInfo{}, nil, err
	}
	if req.Offset < 0 || req.Length < 0 {
		return protocol.FileInfo{}, nil, &cmdError{CodeInvalidInput, "The offset and length must not be negative."}
	}
	f, err := w.root.Open(p)
	if err != nil {
		var rp string
		if rp, err = w.resolved(p, err); err == nil {
			f, err = w.root.Open(rp)
		}
		if err != nil {
			return protocol.FileInfo{}, nil, fileErr(err)
		}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return protocol.FileInfo{}, nil, fileErr(err)
	}
	fi := fileInfo(path.Base(p), st)
	if st.IsDir() {
		return fi, nil, &cmdError{CodeInvalidInput, "The path is a directory."}
	}
	n := int64(protocol.MaxFileChunk)
	if req.Length > 0 && req.Length < n {
		n = req.Length
	}
	if rest := st.Size() - req.Offset; rest < n {
		n = max(rest, 0)
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, req.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return fi, nil, &cmdError{CodeInvalidInput, "The file could not be read: " + err.Error()}
	}
	return fi, buf[:got], nil
}

// fileList serves protocol.CmdFileList. Names are relative to the listed
// directory; symlinks are listed, not followed.
func (w *Worker) fileList(req protocol.FileRequest) ([]protocol.FileInfo, error) {
	p, err := cleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	fsys := w.root.FS()
	name := path.Base(p)
	p, fi, err := w.stat(p)
	if err != nil {
		return nil, fileErr(err)
	}
	if !fi.IsDir() {
		return []protocol.FileInfo{fileInfo(name, fi)}, nil
	}
	rel := func(name string) string {
		if p == "." {
			return name
		}
		return strings.TrimPrefix(name, p+"/")
	}
	out := []protocol.FileInfo{}
	if !req.Recursive {
		entries, err := fs.ReadDir(fsys, p)
		if err != nil {
			return nil, fileErr(err)
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			out = append(out, fileInfo(e.Name(), info))
		}
		return out, nil
	}
	err = fs.WalkDir(fsys, p, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == p {
				return err
			}
			return nil // an unreadable subdirectory: list what can be listed
		}
		if name == p {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		out = append(out, fileInfo(rel(name), info))
		return nil
	})
	if err != nil {
		return nil, fileErr(err)
	}
	return out, nil
}

// fileHeaders puts fi into the headers of a read reply.
func fileHeaders(h nats.Header, fi protocol.FileInfo, offset int64) {
	h.Set(HeaderFileName, fi.Name)
	h.Set(HeaderFileSize, strconv.FormatInt(fi.Size, 10))
	h.Set(HeaderFileMode, fi.Mode)
	h.Set(HeaderFileCreationTime, fi.CreationTime.Format(time.RFC3339Nano))
	h.Set(HeaderFileModTime, fi.ModTime.Format(time.RFC3339Nano))
	h.Set(HeaderFileOffset, strconv.FormatInt(offset, 10))
}

// encodeList encodes a listing, leaving entries out if it does not fit in
// limit bytes.
func encodeList(list []protocol.FileInfo, limit int) ([]byte, bool, error) {
	data, err := json.Marshal(list)
	if err != nil || len(data) <= limit {
		return data, false, err
	}
	n := len(list) * limit / len(data)
	for n > 0 {
		data, err = json.Marshal(list[:n])
		if err != nil || len(data) <= limit {
			return data, true, err
		}
		n = n * 9 / 10
	}
	return []byte("[]"), true, nil
}
