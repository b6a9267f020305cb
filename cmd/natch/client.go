package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/config"
)

// clientCommands are the client subcommands (pool, node, job, task, app-package). Each group
// finds the service from --url/--account/--key, then NATCH_URL/NATCH_ACCOUNT/
// NATCH_KEY, then the connection file natch up writes.
func clientCommands(getenv func(string) string) []*cobra.Command {
	cmds := []*cobra.Command{newPoolCmd(getenv), newNodeCmd(getenv), newJobCmd(getenv), newTaskCmd(getenv), newAppPackageCmd(getenv)}
	for _, c := range cmds {
		describeErrors(c)
	}
	return cmds
}

// clientEnv holds a command group's connection and output flags.
type clientEnv struct {
	getenv            func(string) string
	url, account, key string
	output            string
}

func newClientEnv(getenv func(string) string) *clientEnv { return &clientEnv{getenv: getenv} }

// register adds the connection and output flags to a group, for all its
// subcommands.
func (e *clientEnv) register(group *cobra.Command) {
	pf := group.PersistentFlags()
	pf.StringVar(&e.url, "url", "", "REST API URL (default $"+config.EnvURL+", then the connection file)")
	pf.StringVar(&e.account, "account", "", "account name (default $"+config.EnvAccount+", then the connection file)")
	pf.StringVar(&e.key, "key", "", "account key, base64 (default $"+config.EnvKey+", then the connection file)")
	pf.StringVarP(&e.output, "output", "o", "table", "output format: table or json")
}

// client resolves the endpoint and returns a REST client.
func (e *clientEnv) client() (*producer.Client, error) {
	conn, err := config.Resolve(config.Connection{URL: e.url, Account: e.account, Key: e.key}, e.getenv)
	if err != nil {
		return nil, err
	}
	return producer.New(producer.Config{URL: conn.URL, Account: conn.Account, Key: conn.Key, UserAgent: "natch-cli"})
}

// open checks the output format and builds the client: what every client
// command does first.
func (e *clientEnv) open() (*producer.Client, bool, error) {
	asJSON, err := e.json()
	if err != nil {
		return nil, false, err
	}
	c, err := e.client()
	return c, asJSON, err
}

// json reports whether -o json was asked for, refusing unknown formats.
func (e *clientEnv) json() (bool, error) {
	switch e.output {
	case "", "table":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("unknown output format %q (want table or json)", e.output)
}

// printJSON writes v as indented JSON, without HTML escaping.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table is a tabwriter for aligned columns; call flush when done.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// row writes tab-separated cells and a newline.
func row(w io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprint(w, c)
	}
	fmt.Fprintln(w)
}

// orDash renders an empty value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func intOrDash(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func timeOrDash(t *batch.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// apiError renders a service error as "<Code>: <message> (<key>=<value>, …)".
type apiError struct{ err *batch.Error }

// Error renders the code, the message and the detail values.
func (a apiError) Error() string {
	s := a.err.Code + ": " + a.err.Message
	if len(a.err.Values) > 0 {
		kv := make([]string, len(a.err.Values))
		for i, v := range a.err.Values {
			kv[i] = v.Key + "=" + v.Value
		}
		s += " (" + strings.Join(kv, ", ") + ")"
	}
	return s
}

// Unwrap returns the service error.
func (a apiError) Unwrap() error { return a.err }

// describeErrors makes every command of the tree report service errors as
// apiError, so that main prints "natch: <Code>: <message> (<key>=<value>)".
func describeErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var e *batch.Error
			if errors.As(err, &e) {
				return apiError{e}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		describeErrors(sub)
	}
}

// readJSONFile reads a JSON file, "-" meaning standard input.
func readJSONFile(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// decodeJSON decodes a --from-json document, naming the file on error.
func decodeJSON(path string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// parseDuration accepts a Go duration ("90m") or an ISO 8601 one ("PT90M").
func parseDuration(s string) (*batch.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return batch.D(d), nil
	}
	d, err := batch.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("invalid duration %q: use 90m, 2h30m or PT90M", s)
	}
	return &d, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
