package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
)

// uploadLogsTimeout bounds an upload of the agent logs (the dispatcher
// waits a little longer).
const uploadLogsTimeout = 50 * time.Second

// agentLogs are the node's agent log files: the regular files named *.log
// in its root directory (the local provider writes the agent's output to
// agent.log there; other deployments point their log file there too).
// The end of the window does not matter: natch's logs are not rotated, so
// a file that holds lines of the window is sent whole.
func (w *Worker) agentLogs(start time.Time) ([]string, error) {
	entries, err := os.ReadDir(w.rootDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		// A file last written before the window holds nothing of it; a file
		// written since may hold lines of the window and is sent whole.
		if fi.ModTime().Before(start) {
			continue
		}
		out = append(out, e.Name())
	}
	return out, nil
}

// cmdUploadLogs uploads the agent logs to the requested container, under a
// fresh virtual directory "<pool>/<node>/<time>-<random>/".
func (w *Worker) cmdUploadLogs(ctx context.Context, req protocol.UploadLogsRequest, reply *nats.Msg) error {
	if req.ContainerURL == "" {
		return &cmdError{CodeInvalidInput, "The containerUrl is required."}
	}
	if !req.EndTime.IsZero() && req.EndTime.Before(req.StartTime) {
		return &cmdError{CodeInvalidInput, "The endTime is before the startTime."}
	}
	ctx, cancel := context.WithTimeout(ctx, uploadLogsTimeout)
	defer cancel()
	c, err := blob.Open(ctx, req.ContainerURL, blob.Config{Account: w.cfg.Account, JetStream: w.js, Logger: w.log})
	if err != nil {
		return &cmdError{CodeInvalidInput, "The containerUrl is not a container natch can write to: " + err.Error()}
	}
	if store, ok := c.(*blob.ObjectStore); ok {
		if err := store.Create(ctx); err != nil {
			return fmt.Errorf("create log container: %w", err)
		}
	}
	names, err := w.agentLogs(req.StartTime)
	if err != nil {
		return fmt.Errorf("find agent logs: %w", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	dir := w.poolID + "/" + w.cfg.NodeID + "/" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:]) + "/"
	res := protocol.UploadLogsResult{VirtualDirectoryName: dir}
	for _, name := range names {
		if err := w.uploadLog(ctx, c, filepath.Join(w.rootDir, name), dir+name); err != nil {
			return &cmdError{"UploadFailed", "Upload of " + name + " failed: " + err.Error()}
		}
		res.NumberOfFilesUploaded++
	}
	reply.Data, err = json.Marshal(res)
	return err
}

// uploadLog uploads one log file as it is now (a file still growing is
// cut at its size when opened).
func (w *Worker) uploadLog(ctx context.Context, c blob.Container, file, name string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = c.Put(ctx, name, io.LimitReader(f, fi.Size()), fi.Size(), &blob.PutOpts{ContentType: "text/plain"})
	if errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("the container does not exist: %w", err)
	}
	return err
}
