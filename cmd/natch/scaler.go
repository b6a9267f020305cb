package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/scaler/provider/local"
	"github.com/natch-io/natch/shared/config"
)

// newScalerCmd is `natch scaler`: the resize loop with a node provider.
func newScalerCmd(getenv func(string) string) *cobra.Command {
	var (
		natsURL, provider, providers, nodeRoot, accountURL string
		interval, nodeStopGrace, startTimeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scaler",
		Short: "Keep every pool's compute nodes at its targets, starting and stopping nodes",
		Long: `Runs natch's scaler against an external NATS server or cluster with JetStream.
It watches the pools and nodes buckets, starts nodes until each pool has its
target node counts, stops the surplus (idle nodes first), marks silent nodes
offline and replaces them, and removes deleted pools. With --provider local,
nodes are 'natch worker' child processes of this process, in --node-root/<node-id>
with their log in agent.log; stopping the scaler stops them. With
--provider azure-vmss, nodes are VMs of Azure scale sets (settings in the
--providers file). --providers FILE (JSON) picks the provider of each pool by
its vmSize (globs, first match wins, then "default"):

  {"default": "local",
   "routes": [{"vmSize": "standard_d*", "provider": "azure-vmss"}],
   "azureVmss": {"subscriptionId": "...", "resourceGroup": "natch",
                 "scaleSets": [{"name": "natch-{pool}", "spotName": "natch-{pool}-spot"}]}}

See docs/deployment.md.

Only one scaler acts on an account at a time: it holds a lease in the KV
bucket natch-leases. A second scaler waits until the first stops (or, if it
crashed, until its lease expires) and then takes over.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger()
			var file *providersFile
			if providers != "" {
				f, err := loadProviders(providers)
				if err != nil {
					return err
				}
				file = f
			}
			newLocal := func() (scaler.Provider, closer, error) {
				root, err := filepath.Abs(nodeRoot)
				if err != nil {
					return nil, nil, fmt.Errorf("--node-root: %w", err)
				}
				p, err := local.New(local.Config{NatsURL: natsURL, RootDir: root, AccountURL: accountURL,
					StopGrace: nodeStopGrace + 5*time.Second, Logger: log,
					ExtraArgs: []string{"--shutdown-grace", nodeStopGrace.String()}})
				if err != nil {
					return nil, nil, err
				}
				return p, p.Close, nil
			}
			prov, closeProv, err := buildProvider(file, provider, newLocal, log)
			if err != nil {
				return err
			}
			nc, err := connectNATS(natsURL, "natch-scaler")
			if err != nil {
				return fmt.Errorf("connect to NATS %s: %w", natsURL, err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return errors.Join(err, closeProv(context.WithoutCancel(cmd.Context())))
			}
			sc, err := scaler.New(js, scaler.Config{Provider: prov, Interval: interval, StartTimeout: startTimeout, Logger: log})
			if err != nil {
				return errors.Join(err, closeProv(context.WithoutCancel(cmd.Context())))
			}
			runErr := sc.Run(cmd.Context())
			// Ctrl-C or an error: local nodes go with the scaler; scale set VMs stay.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), nodeStopGrace+15*time.Second)
			defer cancel()
			return errors.Join(runErr, closeProv(ctx))
		},
	}
	f := cmd.Flags()
	f.StringVar(&natsURL, "nats-url", envOr(getenv, config.EnvNatsURL, nats.DefaultURL), "NATS server URL(s), comma-separated ($"+config.EnvNatsURL+")")
	f.StringVar(&provider, "provider", providerLocal, "default node provider: local (natch worker child processes) or azure-vmss (VMs of Azure scale sets; needs --providers)")
	f.StringVar(&providers, "providers", "", "JSON file: the provider of each pool by vmSize glob, and the azure-vmss settings (see docs/deployment.md)")
	f.DurationVar(&startTimeout, "start-timeout", 0, "how long a started node has to register before it is replaced (default 60s; give VMs 10m or more)")
	f.StringVar(&nodeRoot, "node-root", "natch-nodes", "directory of the local nodes' directories")
	f.StringVar(&accountURL, "account-url", getenv(config.EnvURL), "the REST API's URL, given to nodes as AZ_BATCH_ACCOUNT_URL ($"+config.EnvURL+")")
	f.DurationVar(&interval, "interval", time.Second, "how often every pool is reconciled (pool changes are acted on at once)")
	f.DurationVar(&nodeStopGrace, "node-stop-grace", 10*time.Second, "how long a stopping node's running tasks get before they are requeued and the node is killed")
	return cmd
}
