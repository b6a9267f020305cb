// Package azuritetest runs Azurite, the Azure Storage emulator, for tests:
// its blob service on 127.0.0.1 with a random port and in-memory storage,
// stopped when the test ends.
//
// Azurite is the npm package azurite. .ci/run installs version Version
// with
//
//	npm install --prefix "$HOME/.cache/natch-azurite" azurite@<Version>
//
// and Start finds it there, at $AZURITE_BIN (the azurite-blob or azurite
// script), or as azurite-blob on $PATH. Start fails the test, never skips
// it, when Azurite is missing.
package azuritetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the Azurite release scripts/test-deps.sh installs (the last one that runs
// on Node 20).
const Version = "3.35.0"

// Well-known credentials of Azurite's development account.
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// EnvBin names the environment variable that overrides where Azurite is.
const EnvBin = "AZURITE_BIN"

// startTimeout bounds Azurite's start-up.
const startTimeout = 60 * time.Second

// Server is a running Azurite blob service.
type Server struct {
	// BlobEndpoint is the blob service URL of the development account,
	// path style: http://127.0.0.1:<port>/devstoreaccount1.
	BlobEndpoint string
}

// ConnectionString is the account-key connection string of the server's
// development account.
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + AccountName + ";AccountKey=" + AccountKey +
		";BlobEndpoint=" + s.BlobEndpoint + ";"
}

// InstallDir is the npm prefix scripts/test-deps.sh installs Azurite into:
// $HOME/.cache/natch-azurite.
func InstallDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("azuritetest: home directory: %w", err)
	}
	return filepath.Join(home, ".cache", "natch-azurite"), nil
}

// Bin finds the Azurite blob service script: $AZURITE_BIN when set, else
// InstallDir()/node_modules/.bin/azurite-blob, else azurite-blob on $PATH.
func Bin() (string, error) {
	if bin := os.Getenv(EnvBin); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("azuritetest: $%s: %w", EnvBin, err)
		}
		return bin, nil
	}
	if dir, err := InstallDir(); err == nil {
		bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	bin, err := exec.LookPath("azurite-blob")
	if err != nil {
		return "", fmt.Errorf("azuritetest: azurite not found: run scripts/test-deps.sh (make test does), or\n"+
			"\tnpm install --prefix \"$HOME/.cache/natch-azurite\" azurite@%s\n"+
			"or point $%s at an azurite-blob script", Version, EnvBin)
	}
	return bin, nil
}

// listenRe matches Azurite's start-up line and captures the blob port.
var listenRe = regexp.MustCompile(`Blob service (?:is )?successfully listens on http://127\.0\.0\.1:(\d+)`)

// Start runs Azurite's blob service for the test and returns it once it
// accepts requests. The test fails if Azurite is missing or does not start.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Bin()
	if err != nil {
		tb.Fatal(err)
	}
	args := []string{"--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
		"--extentMemoryLimit", "1024", "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"}
	if filepath.Base(bin) == "azurite" { // the all-services script: keep the others off fixed ports
		args = append(args, "--queueHost", "127.0.0.1", "--queuePort", "0", "--tableHost", "127.0.0.1", "--tablePort", "0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = tb.TempDir()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second // then SIGKILL
	out := &output{port: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("azuritetest: start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		cancel()
		<-exited
	})
	select {
	case port := <-out.port:
		return &Server{BlobEndpoint: "http://127.0.0.1:" + port + "/" + AccountName}
	case err := <-exited:
		exited <- err // for Cleanup
		tb.Fatalf("azuritetest: %s exited during start-up (%v):\n%s", bin, err, out.String())
	case <-time.After(startTimeout):
		tb.Fatalf("azuritetest: %s did not start within %s:\n%s", bin, startTimeout, out.String())
	}
	return nil
}

// output collects Azurite's console (capped) and reports the blob port.
type output struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	line  []byte
	found bool
	port  chan string
}

const maxOutput = 64 << 10

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len() < maxOutput {
		o.buf.Write(p[:min(len(p), maxOutput-o.buf.Len())])
	}
	if o.found {
		return len(p), nil
	}
	o.line = append(o.line, p...)
	for {
		i := bytes.IndexByte(o.line, '\n')
		if i < 0 {
			break
		}
		if m := listenRe.FindSubmatch(o.line[:i]); m != nil {
			o.found = true
			o.line = nil
			o.port <- string(m[1])
			return len(p), nil
		}
		o.line = o.line[i+1:]
	}
	if len(o.line) > maxOutput { // no newline for this long: not the line we want
		o.line = nil
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.TrimSpace(o.buf.String())
}
