package blob

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/natstest"
)

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "dir/file.txt", "with space", "ünï/文件", ".hidden", "a..b", "..x/y", strings.Repeat("é", MaxNameLen)} {
		require.NoError(t, CheckName(ok), "%q", ok)
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "../a", "a\\b", "a\x00", "a\nb",
		"a\u0085b", "\xc3\x28", "a.", strings.Repeat("x", MaxNameLen+1), strings.Repeat("a/", 255) + "a"} {
		require.ErrorIs(t, CheckName(bad), ErrInvalidName, "%q", bad)
	}
}

func TestCheckContainerName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"abc", "a-b-c", "0day", strings.Repeat("a", 63)} {
		require.NoError(t, CheckContainerName(ok), "%q", ok)
	}
	for _, bad := range []string{"", "ab", "Abc", "a_b", "-ab", "ab-", "a--b", "a.b", "a/b", "a b", "$root", strings.Repeat("a", 64)} {
		require.ErrorIs(t, CheckContainerName(bad), ErrInvalidName, "%q", bad)
	}
}

func TestBucketName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		account, container, want string
	}{
		{"acct", "inputs", "natch-blob_acct_inputs"},
		{"my-acct", "in-puts", "natch-blob_my-acct_in-puts"},
		{"Acct.x_y", "abc", "natch-blob_X41cctX2ExX5Fy_abc"},
		{"a_b", "abc", "natch-blob_aX5Fb_abc"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got, err := BucketName(tt.account, tt.container)
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
		require.Regexp(t, `^[a-zA-Z0-9_-]+$`, got)
		require.False(t, seen[got])
		seen[got] = true
	}
	_, err := BucketName("", "abc")
	require.Error(t, err)
	_, err = BucketName("acct", "a_b")
	require.ErrorIs(t, err, ErrInvalidName)
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://a.blob.core.windows.net/c?sv=2024-01-01&sig=c2VjcmV0", "https://a.blob.core.windows.net/c?sig=REDACTED&sv=2024-01-01"},
		{"https://a.blob.core.windows.net/c", "https://a.blob.core.windows.net/c"},
		{"https://user:pw@h/c", "https://REDACTED@h/c"},
		{"AccountName=a;AccountKey=c2VjcmV0;BlobEndpoint=http://x", "AccountName=a;AccountKey=REDACTED;BlobEndpoint=http://x"},
		{"nats://inputs", "nats://inputs"},
		{"inputs", "inputs"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Redact(tt.in))
	}
}

func TestOpenRefs(t *testing.T) {
	t.Parallel()
	js := natstest.Run(t)
	const sasQuery = "?sv=2024-08-04&sr=c&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig=c2VjcmV0c2VjcmV0"
	const devConn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
	tests := []struct {
		name    string
		ref     string
		cfg     Config
		want    any // *Azure or *ObjectStore
		wantErr error
	}{
		{name: "SAS", ref: "https://acct.blob.core.windows.net/inputs" + sasQuery, want: &Azure{}},
		{name: "NoSAS", ref: "https://acct.blob.core.windows.net/inputs", want: &Azure{}},
		{name: "Azurite", ref: "http://127.0.0.1:10000/devstoreaccount1/inputs" + sasQuery, want: &Azure{}},
		{name: "AzuriteLocalhost", ref: "http://localhost:10000/devstoreaccount1/inputs", want: &Azure{}},
		{name: "HTTPAllowed", ref: "http://azurite.example/inputs", cfg: Config{AllowHTTP: true}, want: &Azure{}},
		{name: "NATS", ref: "nats://inputs", cfg: Config{Account: "a", JetStream: js}, want: &ObjectStore{}},
		{name: "BareObjectStore", ref: "inputs", cfg: Config{Account: "a", JetStream: js}, want: &ObjectStore{}},
		{name: "BareConnectionString", ref: "inputs", cfg: Config{ConnectionString: devConn}, want: &Azure{}},
		{name: "BareDevStorage", ref: "inputs", cfg: Config{ConnectionString: "UseDevelopmentStorage=true"}, want: &Azure{}},

		{name: "FTP", ref: "ftp://acct.blob.core.windows.net/inputs", wantErr: ErrInvalidRef},
		{name: "File", ref: "file:///etc/passwd", wantErr: ErrInvalidRef},
		{name: "NoContainer", ref: "https://acct.blob.core.windows.net/", wantErr: ErrInvalidRef},
		{name: "NoPath", ref: "https://acct.blob.core.windows.net", wantErr: ErrInvalidRef},
		{name: "BlobURL", ref: "https://acct.blob.core.windows.net/inputs/file.txt" + sasQuery, wantErr: ErrInvalidRef},
		{name: "TrailingSlash", ref: "https://acct.blob.core.windows.net/inputs/", wantErr: ErrInvalidRef},
		{name: "AzuriteNoContainer", ref: "http://127.0.0.1:10000/devstoreaccount1", wantErr: ErrInvalidRef},
		{name: "AzuriteBlob", ref: "http://127.0.0.1:10000/devstoreaccount1/inputs/x", wantErr: ErrInvalidRef},
		{name: "BadContainer", ref: "https://acct.blob.core.windows.net/In_Puts", wantErr: ErrInvalidRef},
		{name: "EscapedPath", ref: "https://acct.blob.core.windows.net/in%2Fputs", wantErr: ErrInvalidRef},
		{name: "DotDot", ref: "https://acct.blob.core.windows.net/../inputs", wantErr: ErrInvalidRef},
		{name: "UserInfo", ref: "https://u:p@acct.blob.core.windows.net/inputs", wantErr: ErrInvalidRef},
		{name: "Fragment", ref: "https://acct.blob.core.windows.net/inputs#x", wantErr: ErrInvalidRef},
		{name: "ExtraParam", ref: "https://acct.blob.core.windows.net/inputs?comp=list&sig=x", wantErr: ErrInvalidRef},
		{name: "Snapshot", ref: "https://acct.blob.core.windows.net/inputs?snapshot=2024-01-01", wantErr: ErrInvalidRef},
		{name: "RepeatedParam", ref: "https://acct.blob.core.windows.net/inputs?sig=a&sig=b", wantErr: ErrInvalidRef},
		{name: "PlainHTTP", ref: "http://acct.blob.core.windows.net/inputs" + sasQuery, wantErr: ErrInvalidRef},
		{name: "NATSEmpty", ref: "nats://", cfg: Config{Account: "a", JetStream: js}, wantErr: ErrInvalidRef},
		{name: "NATSPath", ref: "nats://inputs/x", cfg: Config{Account: "a", JetStream: js}, wantErr: ErrInvalidRef},
		{name: "NATSBadName", ref: "nats://In_puts", cfg: Config{Account: "a", JetStream: js}, wantErr: ErrInvalidRef},
		{name: "BareBadName", ref: "../inputs", cfg: Config{Account: "a", JetStream: js}, wantErr: ErrInvalidRef},
		{name: "OtherScheme", ref: "s3://bucket", wantErr: ErrInvalidRef},
		{name: "ConnectionStringAsRef", ref: devConn, wantErr: ErrInvalidRef},
		{name: "ConnStrUnknownKey", ref: "inputs", cfg: Config{ConnectionString: "AccountName=abc;AccountKey=eA==;Foo=bar"}, wantErr: ErrInvalidRef},
		{name: "ConnStrRepeatedKey", ref: "inputs", cfg: Config{ConnectionString: "AccountName=abc;AccountName=abd;AccountKey=eA=="}, wantErr: ErrInvalidRef},
		{name: "ConnStrNoKey", ref: "inputs", cfg: Config{ConnectionString: "AccountName=abc"}, wantErr: ErrInvalidRef},
		{name: "ConnStrSAS", ref: "inputs", cfg: Config{ConnectionString: "BlobEndpoint=https://x/;SharedAccessSignature=sv=1&sig=2"}, wantErr: ErrInvalidRef},
		{name: "ConnStrBadKey", ref: "inputs", cfg: Config{ConnectionString: "AccountName=abc;AccountKey=not*base64"}, wantErr: ErrInvalidRef},
		{name: "ConnStrPlainHTTP", ref: "inputs", cfg: Config{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=abc;AccountKey=eA=="}, wantErr: ErrInvalidRef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Open(t.Context(), tt.ref, tt.cfg)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "c2VjcmV0", "errors never carry secrets")
				require.NotContains(t, err.Error(), "Eby8vdM02", "errors never carry secrets")
				return
			}
			require.NoError(t, err)
			require.IsType(t, tt.want, c)
		})
	}
}

func TestObjectStoreNeedsConfig(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), "nats://inputs", Config{Account: "a"})
	require.ErrorContains(t, err, "no JetStream")
	_, err = Open(t.Context(), "inputs", Config{JetStream: natstest.Run(t)})
	require.ErrorContains(t, err, "empty account")
}
