package apppkg

import (
	"archive/zip"
	"bytes"
	"context"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// entry is one member of a crafted zip.
type entry struct {
	name string
	data []byte
	mode fs.FileMode // 0: a plain 0644 file
	raw  bool        // stored with a header that declares one byte less than data
}

func makeZip(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		if e.raw {
			h := &zip.FileHeader{Name: e.name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(e.data),
				CompressedSize64: uint64(len(e.data)), UncompressedSize64: uint64(len(e.data) - 1)}
			w, err := zw.CreateRaw(h)
			require.NoError(t, err)
			_, err = w.Write(e.data)
			require.NoError(t, err)
			continue
		}
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = w.Write(e.data)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestCheckAndExtract(t *testing.T) {
	t.Parallel()
	zeros := make([]byte, 2<<20)
	tests := []struct {
		name      string
		zip       func(t *testing.T) []byte
		limits    Limits
		wantEntry string // the entry the error names; "" with wantErr for the zip as a whole
		wantErr   bool
	}{
		{name: "Valid", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "bin/", mode: fs.ModeDir | 0o755},
				entry{name: "bin/run.sh", data: []byte("#!/bin/sh\necho hi\n"), mode: 0o755},
				entry{name: "data/a.txt", data: []byte("a")})
		}},
		{name: "SmallCompressibleFileIsFine", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "zeros", data: make([]byte, 512<<10)})
		}},
		{name: "NotAZip", zip: func(*testing.T) []byte { return []byte("this is not a zip") }, wantErr: true},
		{name: "DotDot", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "../evil.sh", data: []byte("x")})
		}, wantEntry: "../evil.sh"},
		{name: "DotDotInside", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "a/../../evil", data: []byte("x")})
		}, wantEntry: "a/../../evil"},
		{name: "Absolute", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "/etc/passwd", data: []byte("x")})
		}, wantEntry: "/etc/passwd"},
		{name: "DriveLetter", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "C:/x", data: []byte("x")})
		}, wantEntry: "C:/x"},
		{name: "Backslash", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: `..\evil`, data: []byte("x")})
		}, wantEntry: `..\evil`},
		{name: "Symlink", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "link", data: []byte("/etc"), mode: fs.ModeSymlink | 0o777})
		}, wantEntry: "link"},
		{name: "Duplicate", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "a", data: []byte("1")}, entry{name: "./a", data: []byte("2")})
		}, wantEntry: "./a"},
		{name: "ZipBomb", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "bomb", data: zeros})
		}, wantEntry: "bomb"},
		{name: "TooLarge", limits: Limits{MaxTotalSize: 10}, zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "a", data: []byte("123456")}, entry{name: "b", data: []byte("123456")})
		}, wantEntry: "b"},
		{name: "TooManyEntries", limits: Limits{MaxEntries: 2}, zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "a"}, entry{name: "b"}, entry{name: "c"})
		}, wantErr: true},
		{name: "LyingHeader", zip: func(t *testing.T) []byte {
			return makeZip(t, entry{name: "liar", data: []byte("0123456789"), raw: true})
		}, wantEntry: "liar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := tt.zip(t)
			dir := t.TempDir()
			_, _, checkErr := Check(bytes.NewReader(b), int64(len(b)), tt.limits)
			err := Extract(t.Context(), bytes.NewReader(b), int64(len(b)), dir, tt.limits)
			if !tt.wantErr && tt.wantEntry == "" {
				require.NoError(t, checkErr)
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			var pe *Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tt.wantEntry, pe.Entry, "the error names the offending entry: %v", err)
			if tt.name != "LyingHeader" { // only reading the data shows the lie
				require.ErrorIs(t, checkErr, ErrInvalid)
			}
			// Nothing was written outside dir.
			_, statErr := os.Stat(filepath.Join(filepath.Dir(dir), "evil.sh"))
			require.ErrorIs(t, statErr, fs.ErrNotExist)
		})
	}
}

func TestExtractWritesTreeAndModes(t *testing.T) {
	t.Parallel()
	b := makeZip(t, entry{name: "bin/run.sh", data: []byte("#!/bin/sh\n"), mode: 0o755},
		entry{name: "doc/readme.txt", data: []byte("read me")})
	dir := t.TempDir()
	entries, total, err := Check(bytes.NewReader(b), int64(len(b)), Limits{})
	require.NoError(t, err)
	require.Equal(t, 2, entries)
	require.EqualValues(t, len("#!/bin/sh\n")+len("read me"), total)
	require.NoError(t, Extract(t.Context(), bytes.NewReader(b), int64(len(b)), dir, Limits{}))

	fi, err := os.Stat(filepath.Join(dir, "bin", "run.sh"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o755), fi.Mode().Perm()&^0o022, "executable bit kept")
	got, err := os.ReadFile(filepath.Join(dir, "doc", "readme.txt"))
	require.NoError(t, err)
	require.Equal(t, "read me", string(got))
	fi, err = os.Stat(filepath.Join(dir, "doc", "readme.txt"))
	require.NoError(t, err)
	require.Zero(t, fi.Mode().Perm()&0o111, "plain files are not executable")
}

func TestExtractHonoursContext(t *testing.T) {
	t.Parallel()
	b := makeZip(t, entry{name: "a", data: []byte("x")})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Extract(ctx, bytes.NewReader(b), int64(len(b)), t.TempDir(), Limits{})
	require.ErrorIs(t, err, context.Canceled)
}
