// Package blob stores and fetches the files natch stages into tasks and
// uploads out of them: resource files, output files and application packages.
//
// A [Container] is a flat namespace of named blobs. Three backends exist:
//
//	backend                 reference (Open)                                   concrete type
//	NATS Object Store       nats://<container>, or a bare container name       *ObjectStore
//	Azure Blob Storage      https://acct.blob.core.windows.net/<c>?<SAS>,      *Azure
//	                        http://127.0.0.1:10000/<acct>/<c>?<SAS> (Azurite),
//	                        or a bare container name with Config.ConnectionString
//	plain http(s) GET       any http(s) URL (read only, httpUrl resource files) *HTTP
//
// The object store is natch's default "auto-storage": the container <c> of
// natch account <a> is the object store bucket BucketName(a, c). A bare
// container name (Azure Batch's autoStorageContainerName) opens the account's
// auto-storage: Azure when Config.ConnectionString is set, the object store
// otherwise.
//
// # Names
//
// Blob names are checked by [CheckName] before any I/O: they are relative,
// slash-separated paths of valid UTF-8 with no empty, "." or ".." segment, no
// backslash and no control character, so that a name can neither address
// another container nor escape a directory when it is written to disk.
// Container names follow Azure's rules ([CheckContainerName]).
//
// # Errors
//
// Errors wrap the operation and the blob name. Callers branch with errors.Is
// on [ErrNotFound] (blob or container), [ErrAccessDenied] (bad or
// insufficient credentials), [ErrInvalidName], [ErrInvalidRef] and
// [ErrChecksumMismatch]; the worker maps them to Azure Batch's BlobNotFound,
// BlobAccessDenied and BlobDownloadMiscError. Errors never carry SAS
// signatures or account keys; [Redact] does the same for references that are
// logged.
package blob
