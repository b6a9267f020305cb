package azuritetest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/blob/azuritetest"
)

// TestVersionMatchesCI keeps Version and the version scripts/test-deps.sh
// (run by make test and .ci/run) installs equal.
func TestVersionMatchesCI(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile(filepath.Join("..", "..", "..", "scripts", "test-deps.sh"))
	require.NoError(t, err)
	require.Contains(t, string(script), "AZURITE_VERSION="+azuritetest.Version+"\n")
}

func TestStart(t *testing.T) {
	t.Parallel()
	srv := azuritetest.Start(t)
	require.Regexp(t, `^http://127\.0\.0\.1:\d+/devstoreaccount1$`, srv.BlobEndpoint)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.BlobEndpoint+"?comp=list", nil)
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "an unsigned request reaches Azurite and is refused")
}

// TestBinFromEnv is not parallel: it sets an environment variable.
func TestBinFromEnv(t *testing.T) {
	t.Setenv(azuritetest.EnvBin, filepath.Join(t.TempDir(), "no-such-azurite"))
	_, err := azuritetest.Bin()
	require.ErrorContains(t, err, azuritetest.EnvBin)
}
