package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/natch-io/natch/shared/config"
	"github.com/natch-io/natch/worker"
)

// EnvStorageConnectionString is the environment variable of natch worker's
// --storage-connection-string.
const EnvStorageConnectionString = "NATCH_STORAGE_CONNECTION_STRING"

// newWorkerCmd is `natch worker`: one compute node of a pool.
func newWorkerCmd(getenv func(string) string) *cobra.Command {
	var (
		natsURL, account, pool, nodeID, rootDir, vmSize, accountURL, logLevel string
		storageConn                                                           string
		slots, prefetch                                                       int
		blobCache                                                             int64
		lowPriority, exitWithParent, noLogCopies                              bool
		heartbeat, shutdownGrace                                              time.Duration
		rendezvousTimeout, prefetchBelow, reportLinger                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a compute node: pull the pool's tasks and run them",
		Long: "Run a compute node (the natch node agent). It registers in the pool, pulls the pool's\n" +
			"tasks from NATS JetStream, runs them in task directories under --root-dir, and stops\n" +
			"gracefully on SIGTERM or Ctrl-C (running tasks are requeued after the grace period).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if exitWithParent {
				var stop func()
				ctx, stop = worker.WithParent(ctx, time.Second)
				defer stop()
			}
			if storageConn == "" {
				storageConn = getenv(EnvStorageConnectionString)
			}
			if nodeID == "" {
				b := make([]byte, 8)
				if _, err := rand.Read(b); err != nil {
					return err
				}
				nodeID = "tvmps_" + hex.EncodeToString(b)
			}
			if rootDir == "" {
				rootDir = filepath.Join("natch-node", nodeID)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			servePprof(os.Getenv("NATCH_WORKER_PPROF_ADDR"), logger)

			nc, err := nats.Connect(natsURL,
				nats.Name("natch-worker "+nodeID),
				nats.MaxReconnects(-1),
				nats.ReconnectWait(time.Second),
				nats.RetryOnFailedConnect(true),
				nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
					if err != nil {
						logger.Warn("disconnected from NATS", "err", err)
					}
				}),
				nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("reconnected to NATS", "url", c.ConnectedUrl()) }),
			)
			if err != nil {
				return fmt.Errorf("connect to NATS %s: %w", natsURL, err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			w, err := worker.New(nc, js, worker.Config{
				Account:       account,
				PoolID:        pool,
				NodeID:        nodeID,
				RootDir:       rootDir,
				Slots:         slots,
				VMSize:        vmSize,
				LowPriority:   lowPriority,
				AccountURL:    accountURL,
				Heartbeat:     heartbeat,
				ShutdownGrace: shutdownGrace,
				Logger:        logger,

				StorageConnectionString: storageConn,
				BlobCacheMaxBytes:       blobCache,
				NoLogCopies:             noLogCopies,
				RendezvousTimeout:       rendezvousTimeout,
				Prefetch:                prefetch,
				PrefetchBelow:           prefetchBelow,
				ReportLinger:            reportLinger,
			})
			if err != nil {
				return err
			}
			err = w.Run(ctx)
			if errors.Is(err, worker.ErrNodeRemoved) {
				return nil
			}
			if err == nil {
				if ferr := nc.FlushTimeout(2 * time.Second); ferr != nil {
					logger.Warn("flush NATS connection", "err", ferr)
				}
			}
			return err
		},
	}
	defURL := getenv(config.EnvNatsURL)
	if defURL == "" {
		defURL = nats.DefaultURL
	}
	f := cmd.Flags()
	f.StringVar(&natsURL, "nats-url", defURL, "NATS server URL(s), comma separated ($"+config.EnvNatsURL+")")
	f.StringVar(&account, "account", getenv(config.EnvAccount), "account name ($"+config.EnvAccount+"; required)")
	f.StringVar(&pool, "pool", "", "pool id (required)")
	f.StringVar(&nodeID, "node-id", "", `node id (default "tvmps_" + 16 random hex digits)`)
	f.StringVar(&rootDir, "root-dir", "", "node root directory, AZ_BATCH_NODE_ROOT_DIR (default ./natch-node/<node-id>)")
	f.IntVar(&slots, "slots", 0, "task slots (default: the pool's taskSlotsPerNode)")
	f.StringVar(&vmSize, "vm-size", "standard_d2s_v3", "vmSize the node reports")
	f.BoolVar(&lowPriority, "low-priority", false, "report the node as a spot/low-priority node (isDedicated=false)")
	f.StringVar(&accountURL, "account-url", getenv(config.EnvURL), "AZ_BATCH_ACCOUNT_URL given to tasks ($"+config.EnvURL+")")
	f.DurationVar(&heartbeat, "heartbeat", 2*time.Second, "how often the node record is refreshed")
	f.DurationVar(&shutdownGrace, "shutdown-grace", 10*time.Second, "how long running tasks may finish on shutdown before they are requeued")
	f.BoolVar(&exitWithParent, "exit-with-parent", false, "stop when the parent process exits (for workers started as child processes)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	// The environment is read in RunE: --help must not print the key.
	f.StringVar(&storageConn, "storage-connection-string", "",
		"the account's linked Azure storage (account-key connection string, or UseDevelopmentStorage=true) for\n"+
			"autoStorageContainerName resource files and bare output container names; default: the NATS object store ($"+
			EnvStorageConnectionString+")")
	f.Int64Var(&blobCache, "blob-cache-bytes", 0, "bound of the node's resource file cache (default 4 GiB; -1 disables it)")
	f.DurationVar(&rendezvousTimeout, "rendezvous-timeout", time.Minute,
		"how long an instance of a multi-instance task waits for the others to find nodes before it gives its node back")
	f.IntVar(&prefetch, "prefetch", 0, "task messages the node may hold beyond its slots while its tasks are short (default 2 × slots; -1 disables prefetching)")
	f.DurationVar(&prefetchBelow, "prefetch-below", 50*time.Millisecond, "prefetch only while the node's recent tasks ran shorter than this on average (-1ns disables prefetching)")
	f.DurationVar(&reportLinger, "report-linger", 5*time.Millisecond, "how long a completion report may wait to share a message with others while reports come often")
	f.BoolVar(&noLogCopies, "no-log-copies", false, "do not copy tasks' stdout.txt/stderr.txt to the natch-task-logs container")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		switch {
		case account == "":
			return errors.New("--account is required")
		case pool == "":
			return errors.New("--pool is required")
		}
		return nil
	}
	return cmd
}
