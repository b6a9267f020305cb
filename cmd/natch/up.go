package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/dispatcher/portal"
	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/scaler/provider/local"
	"github.com/natch-io/natch/shared/config"
	"github.com/natch-io/natch/shared/topology"
)

// upOptions are natch up's flags.
type upOptions struct {
	dataDir, httpAddr, natsAddr, account, publicURL string
	natsMonitorAddr                                 string
	ackWait                                         time.Duration
	syncAlways                                      bool
	nodeStopGrace                                   time.Duration
	maxPackageSize                                  int64
	minRecurrence                                   time.Duration
	rendezvousTimeout                               time.Duration
}

func newUpCmd(getenv func(string) string) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run everything on this machine: embedded NATS JetStream, dispatcher, scaler with local nodes, REST API",
		Long: `natch up runs the whole service in one process: an embedded nats-server with
JetStream (file store under --data-dir), the dispatcher (REST + NATS API), and
the scaler with the local provider, which starts 'natch worker' child processes
as compute nodes. On first start it creates a default account with a random
key; a restart reuses all state. It writes DATA_DIR/connection.json for
clients and scripts. Ctrl-C stops everything, nodes included.`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", envOr(getenv, "NATCH_DATA_DIR", config.DefaultDataDir), "state directory (JetStream store, node directories, connection.json)")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8765", "REST API address (port 0 picks a free port)")
	f.StringVar(&o.natsAddr, "nats-addr", "127.0.0.1:4222", "embedded NATS address (port 0 picks a free port)")
	f.StringVar(&o.natsMonitorAddr, "nats-monitor-addr", os.Getenv("NATCH_NATS_MONITOR_ADDR"),
		"serve the embedded NATS server's monitoring endpoints (/varz, /connz, /jsz) on HOST:PORT; off by default")
	f.StringVar(&o.account, "account", "natch", "name of the default account")
	f.StringVar(&o.publicURL, "public-url", "", "URL clients reach the API at (default: http://<http-addr>)")
	f.DurationVar(&o.ackWait, "ack-wait", 30*time.Second, "how long a silent node keeps a task before it is requeued to another node")
	f.BoolVar(&o.syncAlways, "sync-always", false, "fsync JetStream on every write (survives power loss; slower). Default: fsync every 2 minutes, which a process kill does not affect")
	f.DurationVar(&o.nodeStopGrace, "node-stop-grace", 10*time.Second, "how long a stopping node's running tasks get before they are killed and requeued")
	f.Int64Var(&o.maxPackageSize, "max-package-size", 1<<30, "largest application package (zip) a publish accepts, in bytes")
	f.DurationVar(&o.rendezvousTimeout, "rendezvous-timeout", time.Minute, "how long an instance of a multi-instance task waits on a node for the others before it gives the node back")
	f.DurationVar(&o.minRecurrence, "min-recurrence", time.Minute, "shortest recurrenceInterval and startWindow a job schedule may have (Azure: 1m; lower it for tests and demos)")
	return cmd
}

func runUp(ctx context.Context, o upOptions) error {
	log := newLogger()
	servePprof(os.Getenv("NATCH_PPROF_ADDR"), log)
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	host, port, err := splitHostPort(o.natsAddr)
	if err != nil {
		return fmt.Errorf("--nats-addr: %w", err)
	}
	sopts := &server.Options{ServerName: "natch", Host: host, Port: port, JetStream: true,
		StoreDir: filepath.Join(dataDir, "jetstream"), NoSigs: true, NoLog: true, MaxPayload: 8 << 20}
	if o.syncAlways {
		sopts.SyncAlways = true
	}
	if o.natsMonitorAddr != "" {
		if sopts.HTTPHost, sopts.HTTPPort, err = splitHostPort(o.natsMonitorAddr); err != nil {
			return fmt.Errorf("--nats-monitor-addr: %w", err)
		}
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(30 * time.Second) {
		return errors.New("embedded nats did not start")
	}
	natsURL := ns.ClientURL()
	nc, err := nats.Connect(natsURL, nats.Name("natch-up"), nats.InProcessServer(ns), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	apiURL := o.publicURL
	if apiURL == "" {
		apiURL = "http://" + ln.Addr().String()
	}
	d := dispatcher.New(nc, js, dispatcher.Config{Listener: ln, PublicURL: o.publicURL, Logger: log,
		Topology: topology.Options{AckWait: o.ackWait}, MaxPackageSize: o.maxPackageSize, MinRecurrence: o.minRecurrence})
	svc, err := d.Prepare(ctx)
	if err != nil {
		return err
	}
	acct, err := svc.EnsureAccount(ctx, o.account, newKey)
	if err != nil {
		return err
	}
	prov, err := local.New(local.Config{NatsURL: natsURL, RootDir: filepath.Join(dataDir, "nodes"),
		AccountURL: apiURL, StopGrace: o.nodeStopGrace + 5*time.Second, Logger: log,
		ExtraArgs: []string{"--shutdown-grace", o.nodeStopGrace.String(), "--rendezvous-timeout", o.rendezvousTimeout.String()}})
	if err != nil {
		return err
	}
	// A stable holder name: after a crash, natch up takes its own lease back at
	// once instead of waiting for it to expire.
	sc, err := scaler.New(js, scaler.Config{Provider: prov, Logger: log, Holder: "up:" + dataDir})
	if err != nil {
		return err
	}
	conn := config.Connection{URL: apiURL, NatsURL: natsURL, Account: acct.Name, Key: acct.Keys[0]}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Run(gctx) })
	g.Go(func() error { return sc.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.nodeStopGrace+15*time.Second)
		defer cancel()
		return prov.Close(cctx)
	})
	if err := config.Write(dataDir, conn); err != nil {
		return err
	}
	fmt.Printf("natch is up\n  API:     %s\n  portal:  %s\n  NATS:    %s\n  account: %s\n  key:     %s\n  config:  %s\nCtrl-C stops it.\n",
		conn.URL, strings.TrimRight(conn.URL, "/")+portal.Prefix, conn.NatsURL, conn.Account, conn.Key, filepath.Join(dataDir, config.ConnectionFile))
	err = g.Wait()
	_ = os.Remove(filepath.Join(dataDir, config.ConnectionFile))
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// newKey returns a random 64-byte account key, base64-encoded.
func newKey() string {
	var b [64]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	if n == 0 {
		n = server.RANDOM_PORT
	}
	return h, n, nil
}
