package protocol

import "time"

// Node file commands (one subject token each), served by the worker over NATS request/reply on
// topology.NodeSubject(account, node, command); nodes need no inbound port.
const (
	// CmdFileStat: body FileRequest → reply JSON FileInfo.
	CmdFileStat = "filestat"
	// CmdFileRead: body FileRequest → reply the raw bytes of
	// [Offset, Offset+Length) (at most MaxFileChunk); headers carry FileInfo fields.
	CmdFileRead = "fileread"
	// CmdFileList: body FileRequest (Path a directory, Recursive) → reply JSON []FileInfo.
	CmdFileList = "filelist"
	// CmdFileDelete: body FileRequest (Recursive to delete a directory and
	// what it holds) → empty reply; ErrorHeader "DirectoryNotEmpty" for a
	// non-empty directory without Recursive.
	CmdFileDelete = "filedelete"
)

// MaxFileChunk is the most bytes one CmdFileRead reply carries; callers
// read larger files in chunks.
const MaxFileChunk = 512 * 1024

// ErrorHeader is set on a node command reply that failed; its value is an
// Azure error code (FileNotFound, TaskNotFound, ...), and the body the message.
const ErrorHeader = "Natch-Error"

// FileRequest names a file or directory relative to the node's root
// directory (AZ_BATCH_NODE_ROOT_DIR). A path that escapes the root is refused.
type FileRequest struct {
	Path      string `json:"path"`
	Offset    int64  `json:"offset,omitempty"`
	Length    int64  `json:"length,omitempty"` // 0 = up to MaxFileChunk
	Recursive bool   `json:"recursive,omitempty"`
}

// FileInfo describes a node file. Name is relative to the requested
// directory for CmdFileList and the base name otherwise.
type FileInfo struct {
	Name         string    `json:"name"`
	IsDirectory  bool      `json:"isDirectory"`
	Size         int64     `json:"size"`
	CreationTime time.Time `json:"creationTime"`
	ModTime      time.Time `json:"modTime"`
	Mode         string    `json:"mode"` // octal, e.g. "0o100644" as Azure reports fileMode
}
