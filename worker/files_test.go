package worker_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

// fileCmd sends a file command and returns the reply.
func (b *testBundle) fileCmd(t *testing.T, cmd string, req protocol.FileRequest) *nats.Msg {
	t.Helper()
	data, err := json.Marshal(req)
	require.NoError(t, err)
	reply, err := b.nc.Request(topology.NodeSubject(account, batch.Key(nodeID), cmd), data, wait)
	require.NoError(t, err)
	return reply
}

func TestFileCommands(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	b.publish(t, task("Files", `/bin/sh -c 'printf 0123456789; mkdir -p sub/deeper; echo x > sub/deeper/f.txt'`))
	b.event(t, protocol.EventCompleted, "Files")
	root := n.cfg.RootDir
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "shared", "out")))
	require.NoError(t, os.Symlink(filepath.Join(root, "workitems"), filepath.Join(root, "shared", "in")))
	stdout := "workitems/Job1/job-1/Files/stdout.txt"

	t.Run("Stat", func(t *testing.T) {
		t.Parallel()
		reply := b.fileCmd(t, protocol.CmdFileStat, protocol.FileRequest{Path: stdout})
		require.Empty(t, reply.Header.Get(protocol.ErrorHeader), string(reply.Data))
		var fi protocol.FileInfo
		require.NoError(t, json.Unmarshal(reply.Data, &fi))
		require.Equal(t, "stdout.txt", fi.Name)
		require.Equal(t, int64(10), fi.Size)
		require.False(t, fi.IsDirectory)
		require.Equal(t, "0o100644", fi.Mode)
		require.False(t, fi.ModTime.IsZero())
		require.False(t, fi.CreationTime.IsZero())

		reply = b.fileCmd(t, protocol.CmdFileStat, protocol.FileRequest{Path: "workitems/Job1/job-1/Files/wd/sub"})
		require.NoError(t, json.Unmarshal(reply.Data, &fi))
		require.True(t, fi.IsDirectory)
		require.True(t, strings.HasPrefix(fi.Mode, "0o40"), fi.Mode)
	})
	t.Run("Read", func(t *testing.T) {
		t.Parallel()
		reply := b.fileCmd(t, protocol.CmdFileRead, protocol.FileRequest{Path: stdout})
		require.Empty(t, reply.Header.Get(protocol.ErrorHeader), string(reply.Data))
		require.Equal(t, "0123456789", string(reply.Data))
		fi, err := worker.FileInfoFromHeader(reply.Header)
		require.NoError(t, err)
		require.Equal(t, "stdout.txt", fi.Name)
		require.Equal(t, int64(10), fi.Size)
		require.Equal(t, "0o100644", fi.Mode)
		require.Equal(t, "0", reply.Header.Get(worker.HeaderFileOffset))

		reply = b.fileCmd(t, protocol.CmdFileRead, protocol.FileRequest{Path: stdout, Offset: 3, Length: 4})
		require.Equal(t, "3456", string(reply.Data))
		fi, err = worker.FileInfoFromHeader(reply.Header)
		require.NoError(t, err)
		require.Equal(t, int64(10), fi.Size, "the whole file's size")

		reply = b.fileCmd(t, protocol.CmdFileRead, protocol.FileRequest{Path: stdout, Offset: 20})
		require.Empty(t, reply.Header.Get(protocol.ErrorHeader))
		require.Empty(t, reply.Data)

		// A symlink that stays inside the root is followed.
		reply = b.fileCmd(t, protocol.CmdFileRead, protocol.FileRequest{Path: "shared/in/Job1/job-1/Files/stdout.txt"})
		require.Empty(t, reply.Header.Get(protocol.ErrorHeader), string(reply.Data))
		require.Equal(t, "0123456789", string(reply.Data))
	})
	t.Run("ReadLargeFileInChunks", func(t *testing.T) {
		t.Parallel()
		big := make([]byte, protocol.MaxFileChunk+100)
		for i := range big {
			big[i] = byte('a' + i%26)
		}
		require.NoError(t, os.WriteFile(filepath.Join(root, "shared", "big.bin"), big, 0o644))
		reply := b.fileCmd(t, protocol.CmdFileRead, protocol.FileRequest{Path: "shared/big.bin"})
		require.Len(t, reply.Data, protocol.MaxFileChunk)
		rest := b.fileCmd(t, protocol.CmdFileRead, protocol.FileRequest{Path: "shared/big.bin", Offset: protocol.MaxFileChunk})
		require.Equal(t, big, append(reply.Data, rest.Data...))
	})
	t.Run("List", func(t *testing.T) {
		t.Parallel()
		reply := b.fileCmd(t, protocol.CmdFileList, protocol.FileRequest{Path: "workitems/Job1/job-1/Files"})
		require.Empty(t, reply.Header.Get(protocol.ErrorHeader), string(reply.Data))
		var list []protocol.FileInfo
		require.NoError(t, json.Unmarshal(reply.Data, &list))
		require.Equal(t, []string{"stderr.txt", "stdout.txt", "wd"}, visible(list))

		reply = b.fileCmd(t, protocol.CmdFileList, protocol.FileRequest{Path: "workitems/Job1/job-1/Files/", Recursive: true})
		require.NoError(t, json.Unmarshal(reply.Data, &list))
		require.Equal(t, []string{"stderr.txt", "stdout.txt", "wd", "wd/sub", "wd/sub/deeper", "wd/sub/deeper/f.txt"}, visible(list))
		for _, fi := range list {
			if fi.Name == "wd/sub/deeper/f.txt" {
				require.Equal(t, int64(2), fi.Size)
				require.False(t, fi.IsDirectory)
			}
			if fi.Name == "wd/sub" {
				require.True(t, fi.IsDirectory)
			}
		}

		reply = b.fileCmd(t, protocol.CmdFileList, protocol.FileRequest{})
		require.NoError(t, json.Unmarshal(reply.Data, &list))
		for _, d := range []string{"applications", "shared", "startup", "workitems"} {
			require.Contains(t, visible(list), d)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			cmd, path, code string
		}{
			{protocol.CmdFileRead, "../secret", worker.CodeInvalidInput},
			{protocol.CmdFileRead, "workitems/../../secret", worker.CodeInvalidInput},
			{protocol.CmdFileRead, "/etc/passwd", worker.CodeInvalidInput},
			{protocol.CmdFileStat, "/etc", worker.CodeInvalidInput},
			{protocol.CmdFileList, "..", worker.CodeInvalidInput},
			{protocol.CmdFileRead, "shared/out/secret", worker.CodeFileNotFound},
			{protocol.CmdFileStat, "shared/out/secret", worker.CodeFileNotFound},
			{protocol.CmdFileList, "shared/out", worker.CodeFileNotFound},
			{protocol.CmdFileRead, "shared/nope.txt", worker.CodeFileNotFound},
			{protocol.CmdFileRead, "shared", worker.CodeInvalidInput},
		}
		for _, tt := range tests {
			reply := b.fileCmd(t, tt.cmd, protocol.FileRequest{Path: tt.path})
			require.Equal(t, tt.code, reply.Header.Get(protocol.ErrorHeader), "%s %s", tt.cmd, tt.path)
			require.NotContains(t, string(reply.Data), "secret")
		}
		// The listing shows the escaping symlink but does not follow it.
		reply := b.fileCmd(t, protocol.CmdFileList, protocol.FileRequest{Path: "shared", Recursive: true})
		var list []protocol.FileInfo
		require.NoError(t, json.Unmarshal(reply.Data, &list))
		require.Contains(t, visible(list), "out")
		require.NotContains(t, visible(list), "out/secret")
	})
	t.Run("BadRequest", func(t *testing.T) {
		t.Parallel()
		reply, err := b.nc.Request(topology.NodeSubject(account, batch.Key(nodeID), protocol.CmdFileRead), []byte("{"), wait)
		require.NoError(t, err)
		require.Equal(t, worker.CodeInvalidInput, reply.Header.Get(protocol.ErrorHeader))
		reply, err = b.nc.Request(topology.NodeSubject(account, batch.Key(nodeID), "selfdestruct"), nil, wait)
		require.NoError(t, err)
		require.Equal(t, worker.CodeInvalidInput, reply.Header.Get(protocol.ErrorHeader))
	})
}

// visible is the sorted names of a listing without natch's marker files.
func visible(list []protocol.FileInfo) []string {
	var names []string
	for _, fi := range list {
		if !strings.HasPrefix(filepath.Base(fi.Name), ".natch") {
			names = append(names, fi.Name)
		}
	}
	slices.Sort(names)
	return names
}
