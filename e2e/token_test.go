package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAccountTokens issues bearer tokens with `natch account token` and
// uses them instead of a SharedKey signature: an account token opens the
// whole account, a job token only its job.
func TestAccountTokens(t *testing.T) {
	t.Parallel()
	in := startUp(t, t.TempDir())
	in.must(201, "POST", "/pools", map[string]any{"id": "p", "vmSize": "x"}, nil)
	in.must(201, "POST", "/jobs", map[string]any{"id": "j", "poolInfo": map[string]any{"poolId": "p"}}, nil)
	token := func(args ...string) string {
		out, err := exec.Command(natchBin, append([]string{"account", "token", in.Conn.Account, "--nats-url", in.Conn.NatsURL}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	get := func(tok, path string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", in.Conn.URL+path+"?api-version=2022-10-01.16.0", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	acct := token("--ttl", "10m")
	require.Equal(t, 200, get(acct, "/pools"))
	require.Equal(t, 200, get(acct, "/jobs/j"))
	job := token("--job", "j")
	require.Equal(t, 200, get(job, "/jobs/j"))
	require.Equal(t, 403, get(job, "/pools"))
	require.Equal(t, 403, get(acct[:len(acct)-4]+"AAAA", "/pools"), "a forged token")

	out, err := exec.Command(natchBin, "account", "token", in.Conn.Account, "--nats-url", in.Conn.NatsURL, "--ttl", "1000h").CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "at most")
}
