package compat

import (
	"archive/zip"
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natchtest"
)

// publishApplications publishes the packages apps.test.mjs reads: the
// official SDK only lists and gets applications (Azure publishes them
// through ARM), so they are published here with natch's own API.
//
//	compat-app-a  "Compat App A"  versions 1.0, 2.0 (default 2.0)
//	compat-app-b  no display name version 1
func publishApplications(t *testing.T, up *natchtest.Up) {
	t.Helper()
	c, err := producer.New(producer.Config{URL: up.Conn.URL, Account: up.Conn.Account, Key: up.Conn.Key})
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("readme.txt")
	require.NoError(t, err)
	_, err = w.Write([]byte("compat\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	pkg := buf.Bytes()
	for _, p := range []struct{ app, version string }{{"compat-app-a", "1.0"}, {"compat-app-a", "2.0"}, {"compat-app-b", "1"}} {
		_, err := c.PublishPackage(t.Context(), p.app, p.version, bytes.NewReader(pkg), int64(len(pkg)))
		require.NoError(t, err, "publish %s %s", p.app, p.version)
	}
	name, def := "Compat App A", "2.0"
	_, err = c.PatchApplication(t.Context(), "compat-app-a", &batch.ApplicationPatch{DisplayName: &name, DefaultVersion: &def})
	require.NoError(t, err)
}
