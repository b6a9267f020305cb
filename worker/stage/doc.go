// Package stage moves a task's files between blob storage and its task
// directory, as Azure Batch's node agent does: resource files are
// downloaded into the working directory before the command runs, output
// files are uploaded after it ends.
//
//	resource files ──Stage──▶ <task dir>/wd/<filePath>        (before the process)
//	                     ▲
//	                     └── node blob cache (volatile/natch-blobcache): hard links
//	<task dir>/{wd/**, stdout.txt, stderr.txt} ──Upload──▶ containers (after the process)
//
// Sources and destinations are opened with shared/blob: httpUrl with
// [blob.HTTP], storageContainerUrl (Azure container URL with a SAS) and
// autoStorageContainerName (the account's auto-storage: the NATS object
// store, or Azure with a connection string) with [blob.Open].
//
// # Paths
//
// A resource file's filePath is relative to the working directory; with a
// container source it is a directory and every blob under blobPrefix lands
// at filePath/<full blob name>, as Azure does. An output filePattern is
// relative to the working directory and may climb to the task directory
// (../stdout.txt) but no further. Every file is created and opened through
// an [os.Root], so neither ".." nor a symbolic link left by an earlier
// attempt can make staging write, or uploading read, outside the task
// directory.
//
// # Cache
//
// A downloaded blob is kept in a node-wide cache keyed by its source
// (without the SAS) and its ETag and Content-MD5, and hard-linked (copied
// when linking is impossible) into the task directory, so a file already on
// the node is not downloaded twice. Concurrent tasks that need the same
// blob share one download. The cache is bounded; the least recently used
// blobs are evicted first. A cached file whose size or modification time
// changed (a task wrote to its hard link) is dropped and downloaded again.
//
// # Failures
//
// Stage and Upload return an [*Error] carrying Azure Batch's failureInfo
// code (BlobNotFound, BlobAccessDenied, BlobDownloadTimedOut,
// BlobDownloadMiscError, ResourceFileCreateFailed, ResourceFileWriteFailed,
// DiskFull, FileUploadMiscError) and a message that names the file.
package stage
