package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/shared/topology"
)

func newDispatcherCmd(getenv func(string) string) *cobra.Command {
	var (
		natsURL, httpAddr, publicURL string
		replicas                     int
		maxPackageSize               int64
		ackWait, minRecurrence       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "dispatcher",
		Short: "Run the control plane (REST + NATS API, task state) against a NATS cluster",
		Long: `Runs natch's dispatcher against an external NATS server or cluster with JetStream:
the Azure Batch REST API, the NATS API, the task state machine and the submit
stream. Several dispatchers may run at once; they share the work.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger()
			servePprof(os.Getenv("NATCH_PPROF_ADDR"), log)
			nc, err := connectNATS(natsURL, "natch-dispatcher")
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			d := dispatcher.New(nc, js, dispatcher.Config{HTTPAddr: httpAddr, PublicURL: publicURL, Logger: log,
				Topology: topology.Options{Replicas: replicas, AckWait: ackWait}, MaxPackageSize: maxPackageSize,
				MinRecurrence: minRecurrence})
			return d.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&natsURL, "nats-url", envOr(getenv, "NATCH_NATS_URL", nats.DefaultURL), "NATS server URL(s), comma-separated")
	f.StringVar(&httpAddr, "http-addr", "127.0.0.1:8765", "REST API listen address")
	f.StringVar(&publicURL, "public-url", "", "URL clients reach the API at (default: from each request's Host)")
	f.IntVar(&replicas, "replicas", 0, "stream and bucket replicas (3 on a cluster); 0 keeps what exists (1 when creating)")
	f.DurationVar(&ackWait, "ack-wait", 30*time.Second, "how long a silent worker keeps a task before it is requeued")
	f.Int64Var(&maxPackageSize, "max-package-size", 1<<30, "largest application package (zip) a publish accepts, in bytes")
	f.DurationVar(&minRecurrence, "min-recurrence", time.Minute, "shortest recurrenceInterval and startWindow a job schedule may have (Azure: 1m)")
	return cmd
}

// connectNATS connects with reconnects forever: components ride out a NATS restart.
func connectNATS(url, name string) (*nats.Conn, error) {
	return nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
