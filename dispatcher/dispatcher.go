// Package dispatcher is natch's control plane: the REST and NATS APIs, the
// task state machine driven by worker events, the submit-stream ingester and
// the job lifecycle, over state kept in JetStream KV. Several dispatchers
// may run against one NATS cluster: they share the consumers and change
// state only by compare-and-set.
package dispatcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/natch-io/natch/dispatcher/api"
	"github.com/natch-io/natch/dispatcher/metrics"
	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/topology"
)

// Config configures a dispatcher.
type Config struct {
	// Listener serves the REST API; if nil, HTTPAddr is listened on.
	Listener net.Listener
	// HTTPAddr is the REST API address. Defaults to 127.0.0.1:8765.
	HTTPAddr string
	// PublicURL is the URL clients use; defaults to each request's Host.
	PublicURL string
	// Topology tunes the streams and buckets created on start.
	Topology topology.Options
	// Logger defaults to discard.
	Logger *slog.Logger
	// Metrics are served at /metrics; New creates them when nil.
	Metrics *metrics.Metrics
	// StateMetrics tunes the state gauges at /metrics (natch_pool_*,
	// natch_job_*): how long a reading is cached and may take. Zero fields
	// take metrics.StateConfig's defaults.
	StateMetrics metrics.StateConfig
	// MaxPackageSize is the largest application package a publish accepts,
	// in bytes. Defaults to 1 GiB.
	MaxPackageSize int64
	// MinRecurrence is the shortest recurrenceInterval and startWindow a
	// job schedule may have. Defaults to Azure's 1 minute.
	MinRecurrence time.Duration
}

// Dispatcher runs the control plane.
type Dispatcher struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
	svc *service.Service
}

// New builds a dispatcher. It does no I/O.
func New(nc *nats.Conn, js jetstream.JetStream, cfg Config) *Dispatcher {
	cfg.HTTPAddr = cmp.Or(cfg.HTTPAddr, "127.0.0.1:8765")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	return &Dispatcher{cfg: cfg, nc: nc, js: js, log: cfg.Logger}
}

// Prepare creates the streams and buckets and opens the state; Run calls
// it, and natch up calls it first to create the default account.
func (d *Dispatcher) Prepare(ctx context.Context) (*service.Service, error) {
	if d.svc != nil {
		return d.svc, nil
	}
	topo, err := d.ensure(ctx, d.cfg.Topology)
	if err != nil {
		return nil, err
	}
	st, err := state.Open(ctx, d.js, nil)
	if err != nil {
		return nil, err
	}
	svc := service.New(d.nc, st, service.Config{AckWait: topo.AckWait, Logger: d.log, Metrics: d.cfg.Metrics,
		MaxPackageSize: d.cfg.MaxPackageSize, Replicas: topo.Replicas, MinRecurrence: d.cfg.MinRecurrence})
	// The state gauges (pools, nodes, queues, open jobs) are read from
	// JetStream at scrape time; every dispatcher serves the same values.
	// Metrics shared by two dispatchers get them once.
	sm := d.cfg.StateMetrics
	if sm.Logger == nil {
		sm.Logger = d.log
	}
	var are prometheus.AlreadyRegisteredError
	if err := d.cfg.Metrics.WatchState(svc, sm); err != nil && !errors.As(err, &are) {
		return nil, fmt.Errorf("state metrics: %w", err)
	}
	d.svc = svc
	return svc, nil
}

// ensureWait bounds how long Prepare retries a JetStream cluster that cannot
// place natch's streams yet.
const ensureWait = time.Minute

// ensure runs topology.Ensure (with the replicas that exist, when topo
// sets none) and returns the options it used. It retries for up to
// ensureWait while the JetStream cluster is not ready for it: a server that
// is still starting or away (replicas cannot be placed), a meta leader being
// elected, a request without an answer. Any other error ends at once.
func (d *Dispatcher) ensure(ctx context.Context, topo topology.Options) (topology.Options, error) {
	deadline := time.Now().Add(ensureWait)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		o := topo
		var err error
		if o.Replicas == 0 {
			o.Replicas, err = topology.CurrentReplicas(ctx, d.js)
		}
		if err == nil {
			err = topology.Ensure(ctx, d.js, o)
		}
		if err == nil || !topology.ClusterNotReady(err) || time.Now().After(deadline) {
			return o, err
		}
		d.log.WarnContext(ctx, "JetStream is not ready for natch's streams yet; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Run serves until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	svc, err := d.Prepare(ctx)
	if err != nil {
		return err
	}
	if err := svc.Reconcile(ctx); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	ln := d.cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", d.cfg.HTTPAddr); err != nil {
			return err
		}
	}
	srv := api.New(svc, d.nc, api.Config{PublicURL: d.cfg.PublicURL, Logger: d.log, Metrics: d.cfg.Metrics})
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Run(gctx) })
	g.Go(func() error { return srv.ServeNATS(gctx) })
	g.Go(func() error {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	d.log.InfoContext(ctx, "dispatcher serving", "http", ln.Addr().String())
	return g.Wait()
}
