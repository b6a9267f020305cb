package stage

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

func TestResourceDest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, filePath, blob, want string
		wantErr                    string
	}{
		{name: "HTTPFile", filePath: "in/a.txt", want: "in/a.txt"},
		{name: "HTTPCleaned", filePath: "./in//x/../a.txt", want: "in/a.txt"},
		{name: "HTTPNeedsAFile", filePath: ".", wantErr: "names the working directory"},
		{name: "ContainerRoot", blob: "dir/b.bin", want: "dir/b.bin"},
		{name: "ContainerUnderFilePath", filePath: "inputs", blob: "dir/b.bin", want: "inputs/dir/b.bin"},
		{name: "Absolute", filePath: "/etc/passwd", wantErr: "absolute"},
		{name: "DotDot", filePath: "../stdout.txt", wantErr: "escapes"},
		{name: "DotDotInside", filePath: "a/../../x", wantErr: "escapes"},
		{name: "Backslash", filePath: `a\..\..\x`, wantErr: "backslash"},
		{name: "BlobDotDot", filePath: "in", blob: "../../x", wantErr: "escapes"},
		{name: "BlobAbsolute", blob: "/x", wantErr: "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := resourceDest(tt.filePath, tt.blob)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestValidateResourceFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rf      batch.ResourceFile
		wantErr string
	}{
		{name: "HTTP", rf: batch.ResourceFile{HTTPURL: "https://x/y", FilePath: "y", FileMode: "0755"}},
		{name: "Container", rf: batch.ResourceFile{AutoStorageContainerName: "inputs", BlobPrefix: "a/"}},
		{name: "NoSource", rf: batch.ResourceFile{FilePath: "x"}, wantErr: "exactly one"},
		{name: "TwoSources", rf: batch.ResourceFile{HTTPURL: "https://x/y", AutoStorageContainerName: "inputs", FilePath: "x"}, wantErr: "exactly one"},
		{name: "HTTPWithoutFilePath", rf: batch.ResourceFile{HTTPURL: "https://x/y"}, wantErr: "filePath is required"},
		{name: "HTTPWithPrefix", rf: batch.ResourceFile{HTTPURL: "https://x/y", FilePath: "y", BlobPrefix: "a"}, wantErr: "blobPrefix"},
		{name: "BadMode", rf: batch.ResourceFile{HTTPURL: "https://x/y", FilePath: "y", FileMode: "rwx"}, wantErr: "fileMode"},
		{name: "ModeTooBig", rf: batch.ResourceFile{HTTPURL: "https://x/y", FilePath: "y", FileMode: "17777"}, wantErr: "fileMode"},
		{name: "Escape", rf: batch.ResourceFile{AutoStorageContainerName: "inputs", FilePath: "../x"}, wantErr: "escapes"},
		{name: "BadContainerName", rf: batch.ResourceFile{AutoStorageContainerName: "nats://x"}, wantErr: "autoStorageContainerName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(tt.rf)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestParsePatternAndBlobNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pattern string
		wantBase      string
		wantGlob      string
		match, path   string // a match (relative to the task dir) and destination path
		wantBlob      string
		wantErr       string
	}{
		{name: "SingleFile", pattern: "out/result.txt", wantBase: "wd/out/result.txt",
			match: "wd/out/result.txt", wantBlob: "result.txt"},
		{name: "SingleFileToPath", pattern: "out/result.txt", wantBase: "wd/out/result.txt",
			match: "wd/out/result.txt", path: "runs/1/r.txt", wantBlob: "runs/1/r.txt"},
		{name: "DoubleStar", pattern: "out/**", wantBase: "wd/out", wantGlob: "**",
			match: "wd/out/a/b.txt", path: "job1", wantBlob: "job1/a/b.txt"},
		{name: "DoubleStarNoPath", pattern: "out/**/*.txt", wantBase: "wd/out", wantGlob: "**/*.txt",
			match: "wd/out/a/b.txt", wantBlob: "a/b.txt"},
		{name: "TrailingSlashPath", pattern: "*.log", wantBase: "wd", wantGlob: "*.log",
			match: "wd/x.log", path: "/logs/", wantBlob: "logs/x.log"},
		{name: "StdFiles", pattern: "../std*.txt", wantBase: ".", wantGlob: "std*.txt",
			match: "stdout.txt", path: "logs", wantBlob: "logs/stdout.txt"},
		{name: "Stdout", pattern: "../stdout.txt", wantBase: "stdout.txt",
			match: "stdout.txt", wantBlob: "stdout.txt"},
		{name: "DotSegments", pattern: "./a/./b/../c.txt", wantBase: "wd/a/c.txt", match: "wd/a/c.txt", wantBlob: "c.txt"},
		{name: "EscapesTaskDir", pattern: "../../etc/passwd", wantErr: "escapes"},
		{name: "EscapesLater", pattern: "a/../../../x", wantErr: "escapes"},
		{name: "DotDotAfterWildcard", pattern: "*/../../x", wantErr: "may not follow a wildcard"},
		{name: "Absolute", pattern: "/etc/*", wantErr: "absolute"},
		{name: "Empty", pattern: "", wantErr: "empty"},
		{name: "Directory", pattern: "out/", wantErr: "directory"},
		{name: "TaskDir", pattern: "..", wantErr: "directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := parsePattern(tt.pattern)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantBase, p.Base)
			require.Equal(t, tt.wantGlob, p.Glob)
			require.Equal(t, tt.wantBlob, outputBlobName(p, tt.match, tt.path))
		})
	}
}

func TestShouldUpload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cond     string
		exitCode int
		want     bool
	}{
		{"taskSuccess", 0, true}, {"TASKSUCCESS", 1, false},
		{"taskFailure", 0, false}, {"taskfailure", 3, true},
		{"taskCompletion", 0, true}, {"taskcompletion", 9, true},
	}
	for _, tt := range tests {
		got, err := ShouldUpload(tt.cond, tt.exitCode)
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "%s exit %d", tt.cond, tt.exitCode)
	}
	_, err := ShouldUpload("always", 0)
	require.ErrorContains(t, err, "uploadCondition")
}
