package dispatcher_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// zipFile is one member of a test zip.
type zipFile struct {
	name string
	data string
	mode fs.FileMode
}

func makeZip(t *testing.T, files ...zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate}
		h.SetMode(max(f.mode, 0o644))
		if f.mode&fs.ModeSymlink != 0 {
			h.SetMode(f.mode)
		}
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = io.WriteString(w, f.data)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// setupApps is setup with a small package size limit.
func setupApps(t *testing.T, maxPackage int64) *testBundle {
	t.Helper()
	return setupWith(t, dispatcher.Config{MaxPackageSize: maxPackage})
}

// publish PUTs a zip as the raw body.
func (b *testBundle) publish(t *testing.T, app, version string, zip []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("PUT", b.url+"/applications/"+app+"/versions/"+version+"?api-version=2022-10-01.16.0",
		bytes.NewReader(zip))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/zip")
	auth.Sign(req, account, b.key, int64(len(zip)))
	return send(t, req)
}

func errorCode(t *testing.T, body []byte) batch.WireError {
	t.Helper()
	var we batch.WireError
	require.NoError(t, json.Unmarshal(body, &we), string(body))
	return we
}

func TestApplicationPublishListGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pkg := makeZip(t, zipFile{name: "bin/hello.sh", data: "#!/bin/sh\necho hello\n", mode: 0o755})

	code, body := b.do(t, "GET", "/applications/blender", nil)
	require.Equal(t, 404, code)
	require.Equal(t, "ApplicationNotFound", errorCode(t, body).Code)

	code, body = b.publish(t, "Blender", "2.7", pkg)
	require.Equal(t, 201, code, string(body))
	var info struct {
		ApplicationID string `json:"applicationId"`
		Version       string `json:"version"`
		State         string `json:"state"`
		Size          int64  `json:"size"`
		SHA256        string `json:"sha256"`
	}
	require.NoError(t, json.Unmarshal(body, &info))
	require.Equal(t, "Blender", info.ApplicationID)
	require.Equal(t, "active", info.State)
	require.EqualValues(t, len(pkg), info.Size)
	require.Len(t, info.SHA256, 64)

	code, body = b.publish(t, "blender", "2.7", pkg)
	require.Equal(t, 409, code)
	require.Equal(t, "ApplicationPackageExists", errorCode(t, body).Code)

	code, body = b.do(t, "PATCH", "/applications/blender", map[string]any{"displayName": "Blender 3D", "allowUpdates": true, "defaultVersion": "2.7"})
	require.Equal(t, 200, code, string(body))
	code, body = b.publish(t, "blender", "2.7", pkg)
	require.Equal(t, 201, code, "updates allowed now: %s", body)
	code, body = b.publish(t, "blender", "2.8", pkg)
	require.Equal(t, 201, code, string(body))
	code, _ = b.publish(t, "ffmpeg", "1", pkg)
	require.Equal(t, 201, code)

	code, body = b.do(t, "GET", "/applications/BLENDER", nil)
	require.Equal(t, 200, code, string(body))
	var sum struct {
		Meta string `json:"odata.metadata"`
		batch.ApplicationSummary
	}
	require.NoError(t, json.Unmarshal(body, &sum))
	require.Equal(t, batch.ApplicationSummary{ID: "Blender", DisplayName: "Blender 3D", Versions: []string{"2.7", "2.8"}}, sum.ApplicationSummary)
	require.Contains(t, sum.Meta, "$metadata#applications/@Element")

	code, body = b.do(t, "GET", "/applications?maxresults=1", nil)
	require.Equal(t, 200, code)
	var page struct {
		Value []batch.ApplicationSummary `json:"value"`
		Next  string                     `json:"odata.nextLink"`
	}
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Value, 1)
	require.Equal(t, "Blender", page.Value[0].ID)
	require.Contains(t, page.Next, "skiptoken=")
	next := strings.TrimPrefix(page.Next, b.url)
	next = strings.Replace(next, "api-version=2022-10-01.16.0&", "", 1)
	next = strings.Replace(next, "&api-version=2022-10-01.16.0", "", 1)
	code, body = b.do(t, "GET", next, nil)
	require.Equal(t, 200, code, string(body))
	page.Next = ""
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Value, 1)
	require.Equal(t, "ffmpeg", page.Value[0].ID)
	require.Empty(t, page.Next)

	// Deleting the default version clears the default.
	code, body = b.do(t, "DELETE", "/applications/blender/versions/2.7", nil)
	require.Equal(t, 200, code, string(body))
	code, body = b.do(t, "GET", "/applications/blender/versions", nil)
	require.Equal(t, 200, code)
	var det struct {
		DefaultVersion string                        `json:"defaultVersion"`
		AllowUpdates   bool                          `json:"allowUpdates"`
		Versions       []protocol.ApplicationVersion `json:"versions"`
	}
	require.NoError(t, json.Unmarshal(body, &det))
	require.Empty(t, det.DefaultVersion)
	require.True(t, det.AllowUpdates)
	require.Len(t, det.Versions, 1)
	require.Equal(t, "2.8", det.Versions[0].Version)
	code, body = b.do(t, "DELETE", "/applications/blender/versions/2.7", nil)
	require.Equal(t, 404, code)
	require.Equal(t, "ApplicationPackageNotFound", errorCode(t, body).Code)
	code, body = b.do(t, "PATCH", "/applications/blender", map[string]any{"defaultVersion": "9.9"})
	require.Equal(t, 400, code)
	require.Equal(t, "defaultVersion", errorCode(t, body).Values[0].Value)

	// The zip is in the account's object store.
	c, err := blob.NewObjectStore(b.js, topology.ApplicationsContainer, blob.Config{Account: account})
	require.NoError(t, err)
	p, err := c.Stat(t.Context(), protocol.PackageBlob("blender", "2.8"))
	require.NoError(t, err)
	require.EqualValues(t, len(pkg), p.Size)
	_, err = c.Stat(t.Context(), protocol.PackageBlob("blender", "2.7"))
	require.ErrorIs(t, err, blob.ErrNotFound)
}

func TestApplicationPublishRejectsBadPackages(t *testing.T) {
	t.Parallel()
	b := setupApps(t, 64<<10)
	bomb := strings.Repeat("\x00", 2<<20)
	tests := []struct {
		name      string
		zip       []byte
		wantCode  string
		wantEntry string
	}{
		{name: "NotAZip", zip: []byte("plain text"), wantCode: "InvalidApplicationPackage"},
		{name: "ZipSlip", zip: makeZip(t, zipFile{name: "../../etc/cron.d/x", data: "x"}), wantCode: "InvalidApplicationPackage", wantEntry: "../../etc/cron.d/x"},
		{name: "Absolute", zip: makeZip(t, zipFile{name: "/etc/passwd", data: "x"}), wantCode: "InvalidApplicationPackage", wantEntry: "/etc/passwd"},
		{name: "Symlink", zip: makeZip(t, zipFile{name: "ln", data: "/etc", mode: fs.ModeSymlink | 0o777}), wantCode: "InvalidApplicationPackage", wantEntry: "ln"},
		{name: "Bomb", zip: makeZip(t, zipFile{name: "bomb", data: bomb}), wantCode: "InvalidApplicationPackage", wantEntry: "bomb"},
		{name: "Empty", zip: nil, wantCode: "InvalidApplicationPackage"},
		{name: "TooLarge", zip: bytes.Repeat([]byte{1}, 65<<10), wantCode: "RequestBodyTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := b.publish(t, "app-"+strings.ToLower(tt.name), "1.0", tt.zip)
			require.GreaterOrEqual(t, code, 400, string(body))
			we := errorCode(t, body)
			require.Equal(t, tt.wantCode, we.Code, string(body))
			if tt.wantEntry != "" {
				require.Contains(t, we.Values, batch.KV{Key: "EntryName", Value: tt.wantEntry})
			}
			// Nothing was stored.
			code, _ = b.do(t, "GET", "/applications/app-"+strings.ToLower(tt.name), nil)
			require.Equal(t, 404, code)
		})
	}
}

func TestApplicationPackageReferences(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pkg := makeZip(t, zipFile{name: "run.sh", data: "echo hi\n"})
	code, body := b.publish(t, "tool", "1.0", pkg)
	require.Equal(t, 201, code, string(body))
	code, _ = b.publish(t, "nodefault", "1", pkg)
	require.Equal(t, 201, code)

	ref := func(app, version string) map[string]any {
		m := map[string]any{"applicationId": app}
		if version != "" {
			m["version"] = version
		}
		return m
	}
	pool := func(id string, refs ...map[string]any) map[string]any {
		return map[string]any{"id": id, "vmSize": "x", "applicationPackageReferences": refs}
	}
	code, body = b.do(t, "POST", "/pools", pool("p0", ref("missing", "1"), ref("tool", "2.0"), ref("nodefault", "")))
	require.Equal(t, 409, code, string(body))
	we := errorCode(t, body)
	require.Equal(t, "InvalidApplicationPackageReferences", we.Code)
	require.Equal(t, []batch.KV{
		{Key: "missing:1", Value: "The specified application does not exist."},
		{Key: "tool:2.0", Value: "The specified application package does not exist."},
		{Key: "nodefault:default", Value: "The application has no default version; specify a version."},
	}, we.Values)

	code, body = b.do(t, "POST", "/pools", pool("p1", ref("tool", "1.0")))
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "PATCH", "/pools/p1", map[string]any{"applicationPackageReferences": []any{ref("tool", "")}})
	require.Equal(t, 409, code, "tool has no default version yet: %s", body)
	code, _ = b.do(t, "PATCH", "/applications/tool", map[string]any{"defaultVersion": "1.0"})
	require.Equal(t, 200, code)
	code, body = b.do(t, "PATCH", "/pools/p1", map[string]any{"applicationPackageReferences": []any{ref("TOOL", "")}})
	require.Equal(t, 200, code, string(body))

	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "j1", "poolInfo": map[string]any{"poolId": "p1"}})
	require.Equal(t, 201, code)
	code, body = b.do(t, "POST", "/jobs/j1/tasks", map[string]any{"id": "bad", "commandLine": "true",
		"applicationPackageReferences": []any{ref("tool", "3")}})
	require.Equal(t, 409, code)
	require.Equal(t, "InvalidApplicationPackageReferences", errorCode(t, body).Code)
	code, body = b.do(t, "POST", "/jobs/j1/tasks", map[string]any{"id": "t1", "commandLine": "true",
		"applicationPackageReferences": []any{ref("Tool", "")}})
	require.Equal(t, 201, code, string(body))

	// The task shows the reference as given; its queued message carries the
	// resolved version.
	code, body = b.do(t, "GET", "/jobs/j1/tasks/t1", nil)
	require.Equal(t, 200, code)
	var task batch.Task
	require.NoError(t, json.Unmarshal(body, &task))
	require.Equal(t, []batch.ApplicationPackageReference{{ApplicationID: "Tool"}}, task.ApplicationPackageReferences)
	require.NotContains(t, string(body), "natchAppPackages")

	str, err := b.js.Stream(t.Context(), topology.TasksStream)
	require.NoError(t, err)
	msg, err := str.GetLastMsgForSubject(t.Context(), topology.TaskSubject(account, "p1", "j1", "t1"))
	require.NoError(t, err)
	var tm protocol.TaskMessage
	require.NoError(t, json.Unmarshal(msg.Data, &tm))
	require.Equal(t, []protocol.AppPackage{{ApplicationID: "tool", Version: "1.0", Default: true}}, tm.AppPackages)
}

func TestApplicationNATSAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pkg := makeZip(t, zipFile{name: "run.sh", data: "echo hi\n"})
	request := func(op string, req protocol.APIRequest) protocol.APIResponse {
		data, err := json.Marshal(req)
		require.NoError(t, err)
		var m *nats.Msg
		require.Eventually(t, func() bool { // the NATS API subscribes as the dispatcher starts
			var err error
			m, err = b.nc.Request(topology.APISubject(account, op), data, 5*time.Second)
			return err == nil
		}, 5*time.Second, 20*time.Millisecond)
		var resp protocol.APIResponse
		require.NoError(t, json.Unmarshal(m.Data, &resp))
		return resp
	}

	// Publish over NATS: stage the zip in the object store, then publish it.
	c, err := blob.NewObjectStore(b.js, topology.ApplicationsContainer, blob.Config{Account: account})
	require.NoError(t, err)
	require.NoError(t, c.Create(t.Context()))
	_, err = c.Put(t.Context(), ".staging/abc.zip", bytes.NewReader(pkg), int64(len(pkg)), nil)
	require.NoError(t, err)
	resp := request("application.publish", protocol.APIRequest{ApplicationID: "natsapp", Version: "1",
		Body: json.RawMessage(`{"stagedBlob":".staging/abc.zip"}`)})
	require.Equal(t, 201, resp.Status, string(resp.Body))
	_, err = c.Stat(t.Context(), ".staging/abc.zip")
	require.ErrorIs(t, err, blob.ErrNotFound, "the staged blob is deleted")

	resp = request("application.list", protocol.APIRequest{})
	require.Equal(t, 200, resp.Status)
	var list struct{ Value []batch.ApplicationSummary }
	require.NoError(t, json.Unmarshal(resp.Body, &list))
	require.Equal(t, []batch.ApplicationSummary{{ID: "natsapp", Versions: []string{"1"}}}, list.Value)

	resp = request("application.get", protocol.APIRequest{ApplicationID: "nope"})
	require.Equal(t, 404, resp.Status)
	require.Contains(t, string(resp.Body), "ApplicationNotFound")

	resp = request("application.deleteversion", protocol.APIRequest{ApplicationID: "natsapp", Version: "1"})
	require.Equal(t, 200, resp.Status, string(resp.Body))
	resp = request("application.get", protocol.APIRequest{ApplicationID: "natsapp"})
	require.Equal(t, 200, resp.Status)
	require.Contains(t, string(resp.Body), `"versions":[]`)
}

func TestApplicationNATSClientPublish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, err := producer.NewNATS(producer.NATSConfig{Conn: b.nc, Account: account})
	require.NoError(t, err)
	pkg := makeZip(t, zipFile{name: "run.sh", data: "echo hi\n"})
	var info *producer.PackageInfo
	require.Eventually(t, func() bool { // the NATS API subscribes as the dispatcher starts
		info, err = c.PublishPackage(t.Context(), "viaNATS", "2.0", bytes.NewReader(pkg), int64(len(pkg)))
		return !errors.Is(err, nats.ErrNoResponders)
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, "viaNATS", info.ApplicationID)
	require.Equal(t, protocol.PackageActive, info.State)

	bad := makeZip(t, zipFile{name: "../x", data: "x"})
	_, err = c.PublishPackage(t.Context(), "viaNATS", "3.0", bytes.NewReader(bad), int64(len(bad)))
	var be *batch.Error
	require.ErrorAs(t, err, &be)
	require.Equal(t, "InvalidApplicationPackage", be.Code)

	def := "2.0"
	det, err := c.PatchApplication(t.Context(), "vianats", &batch.ApplicationPatch{DefaultVersion: &def})
	require.NoError(t, err)
	require.Equal(t, "2.0", det.DefaultVersion)
	apps, err := c.ListApplications(t.Context(), nil)
	require.NoError(t, err)
	require.Equal(t, []batch.ApplicationSummary{{ID: "viaNATS", Versions: []string{"2.0"}}}, apps)

	// No staged copies are left, failed publish included.
	store, err := blob.NewObjectStore(b.js, topology.ApplicationsContainer, blob.Config{Account: account})
	require.NoError(t, err)
	for p, err := range store.List(t.Context(), ".staging/") {
		require.NoError(t, err)
		require.Fail(t, "staged blob left", p.Name)
	}
}
