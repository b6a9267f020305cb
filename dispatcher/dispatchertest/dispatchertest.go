// Package dispatchertest runs a real dispatcher for tests: an embedded
// JetStream server (natstest), the REST API on a free port of 127.0.0.1,
// and one account with a fixed key. Everything stops when the test ends.
package dispatchertest

import (
	"context"
	"encoding/base64"
	"net"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/shared/natstest"
)

// Key is the test account's key (raw bytes; the API takes it base64).
var Key = []byte("0123456789abcdef0123456789abcdef")

// Running is a dispatcher that Start started.
type Running struct {
	// URL is the REST API's origin, http://127.0.0.1:<port>.
	URL string
	// Account is the account Start created, with Key.
	Account string
	// NC and JS are a connection to the embedded server.
	NC *nats.Conn
	JS jetstream.JetStream
	// Service is the dispatcher's service layer.
	Service *service.Service
}

// Start starts a dispatcher with cfg (its Listener is set here) on a new
// embedded server and creates account with Key. The dispatcher stops, and
// Run's error is checked, when the test ends.
func Start(tb testing.TB, account string, cfg dispatcher.Config) *Running {
	tb.Helper()
	nc, js := natstest.Connect(tb, natstest.Server(tb))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("dispatchertest: listen: %v", err)
	}
	cfg.Listener = ln
	d := dispatcher.New(nc, js, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := d.Prepare(ctx)
	if err != nil {
		cancel()
		tb.Fatalf("dispatchertest: prepare: %v", err)
	}
	if _, err := svc.EnsureAccount(ctx, account, func() string { return base64.StdEncoding.EncodeToString(Key) }); err != nil {
		cancel()
		tb.Fatalf("dispatchertest: account: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("dispatchertest: run: %v", err)
		}
	})
	return &Running{URL: "http://" + ln.Addr().String(), Account: account, NC: nc, JS: js, Service: svc}
}
