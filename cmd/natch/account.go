package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/config"
)

// newAccountCmd is the account administration group. It works on the
// state directly over NATS (an operator's tool), not through the signed API.
func newAccountCmd(getenv func(string) string) *cobra.Command {
	var natsURL, output string
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Administer accounts and their keys (needs NATS access)",
		Long: `Account administration for operators: it talks to JetStream directly, so it
needs access to the NATS server natch runs on (under natch up: the natsUrl of
natch-data/connection.json).`,
	}
	cmd.PersistentFlags().StringVar(&natsURL, "nats-url", envOr(getenv, "NATCH_NATS_URL", nats.DefaultURL), "NATS server URL")
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "output: table or json")
	open := func(cmd *cobra.Command) (*service.Service, func(), error) {
		url := natsURL
		if !cmd.Flags().Changed("nats-url") && getenv("NATCH_NATS_URL") == "" {
			if c, err := resolveConnection(getenv); err == nil && c.NatsURL != "" {
				url = c.NatsURL
			}
		}
		nc, err := connectNATS(url, "natch-account")
		if err != nil {
			return nil, nil, err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		svc, err := dispatcher.New(nc, js, dispatcher.Config{}).Prepare(cmd.Context())
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		return svc, nc.Close, nil
	}
	show := func(accounts ...*state.Account) error {
		if output == "json" {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if len(accounts) == 1 {
				return enc.Encode(accounts[0])
			}
			return enc.Encode(accounts)
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPRIMARY KEY\tSECONDARY KEY")
		for _, a := range accounts {
			keys := append(a.Keys, "", "")
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, keys[0], keys[1])
		}
		return tw.Flush()
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create an account with two random keys (prints them)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, closeFn, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			a, err := svc.EnsureAccount(cmd.Context(), args[0], newKey)
			if err != nil {
				return err
			}
			return show(a)
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "List accounts and their keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, closeFn, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			as, err := svc.Accounts(cmd.Context())
			if err != nil {
				return err
			}
			return show(as...)
		},
	})
	var which string
	regen := &cobra.Command{
		Use:   "regenerate-key NAME",
		Short: "Replace the primary or secondary key (the other keeps working)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idx := map[string]int{"primary": 0, "secondary": 1}[which]
			if which != "primary" && which != "secondary" {
				return fmt.Errorf("--key must be primary or secondary")
			}
			svc, closeFn, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			a, err := svc.RegenerateKey(cmd.Context(), args[0], idx, newKey)
			if err != nil {
				return err
			}
			return show(a)
		},
	}
	regen.Flags().StringVar(&which, "key", "secondary", "which key: primary or secondary")
	var job string
	var ttl time.Duration
	token := &cobra.Command{
		Use:   "token NAME",
		Short: "Issue a short-lived bearer token for the account (or one job of it)",
		Long: `Prints a bearer token (Authorization: Bearer <token>) for the REST API: for every
operation of the account, or with --job only for the operations on that job (what a
task's AZ_BATCH_AUTHENTICATION_TOKEN grants). The Azure SDKs use it with their token
credentials. Regenerating the account's primary key revokes it.`,
		Example: "  natch account token natch --ttl 1h\n  natch account token natch --job job1 -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, closeFn, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			tok, exp, err := svc.IssueToken(cmd.Context(), args[0], job, ttl)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"token": tok, "expires": exp.UTC(), "job": job})
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	token.Flags().StringVar(&job, "job", "", "limit the token to the operations on this job")
	token.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid (at most 168h)")
	cmd.AddCommand(regen, token)
	return cmd
}

// resolveConnection reads the connection file natch up wrote (or the one
// $NATCH_CONFIG names).
func resolveConnection(getenv func(string) string) (config.Connection, error) {
	return config.Resolve(config.Connection{}, getenv)
}
