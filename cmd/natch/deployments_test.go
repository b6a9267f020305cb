package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// deployments is the repository's deployments folder, from cmd/natch.
const deployments = "../../deployments"

// unit is a parsed systemd unit file: section → key → values (a key may
// repeat, as EnvironmentFile does).
type unit map[string]map[string][]string

// parseUnit reads a unit file the way systemd does for what these tests
// need: sections, Key=Value lines, comments (# and ;), and a trailing
// backslash continuing a line.
func parseUnit(t *testing.T, text string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			require.True(t, strings.HasSuffix(line, "]"), "bad section %q", line)
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "not Key=Value: %q", line)
			require.NotEmpty(t, section, "%q outside a section", line)
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	require.NoError(t, sc.Err())
	require.Empty(t, cont, "the file ends in a continuation")
	return u
}

// one returns the single value of a key of [Service].
func (u unit) one(t *testing.T, key string) string {
	t.Helper()
	vs := u["Service"][key]
	require.Len(t, vs, 1, "[Service] %s", key)
	return vs[0]
}

// parseEnvFile reads an EnvironmentFile: KEY=VALUE lines, comments, quotes.
func parseEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	env := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: not KEY=VALUE: %q", path, line)
		env[k] = strings.Trim(v, `"'`)
	}
	return env
}

// execArgs splits an ExecStart= command line as systemd does: words at
// spaces, "$VAR" alone split into the variable's words, "${VAR}" one word,
// and the specifiers %l (short host name), %H (host name) and %%.
func execArgs(t *testing.T, line string, env map[string]string) []string {
	t.Helper()
	var out []string
	for _, w := range strings.Fields(line) {
		w = strings.NewReplacer("%%", "%", "%l", "node1", "%H", "node1.example.com").Replace(w)
		if strings.HasPrefix(w, "$") && !strings.HasPrefix(w, "${") {
			v, ok := env[w[1:]]
			require.True(t, ok, "%s is not set by the unit's environment files", w)
			out = append(out, strings.Fields(v)...)
			continue
		}
		for strings.Contains(w, "${") {
			i := strings.Index(w, "${")
			j := strings.Index(w[i:], "}")
			require.Positive(t, j, "unterminated ${ in %q", w)
			name := w[i+2 : i+j]
			v, ok := env[name]
			require.True(t, ok, "${%s} is not set by the unit's environment files", name)
			w = w[:i] + v + w[i+j+1:]
		}
		out = append(out, w)
	}
	return out
}

// parseNatch finds the natch subcommand of args (args[0] is the binary)
// on the real root command and parses its flags and arguments; a renamed
// or removed flag is an error. Flag defaults come from env, as they would
// from the service's environment.
func parseNatch(t *testing.T, args []string, env map[string]string) *cobra.Command {
	t.Helper()
	require.Equal(t, "natch", filepath.Base(args[0]), "ExecStart runs natch")
	root := newRootCmd(func(k string) string { return env[k] })
	cmd, rest, err := root.Find(args[1:])
	require.NoError(t, err)
	require.NotEqual(t, root, cmd, "no subcommand in %q", args)
	require.NoError(t, cmd.ParseFlags(rest), "flags of natch %s", cmd.Name())
	require.NoError(t, cmd.ValidateArgs(cmd.Flags().Args()))
	if cmd.PreRunE != nil {
		require.NoError(t, cmd.PreRunE(cmd, cmd.Flags().Args()))
	}
	return cmd
}

// stopTimeout parses TimeoutStopSec (seconds, or a systemd time span such
// as 1min 30s).
func stopTimeout(t *testing.T, v string) time.Duration {
	t.Helper()
	var total time.Duration
	for f := range strings.FieldsSeq(v) {
		f = strings.NewReplacer("min", "m", "sec", "s").Replace(f)
		if strings.Trim(f, "0123456789") == "" {
			f += "s"
		}
		d, err := time.ParseDuration(f)
		require.NoError(t, err, "TimeoutStopSec=%s", v)
		total += d
	}
	return total
}

// TestSystemdUnits parses each unit of deployments/systemd, fills its
// ExecStart line from the example environment files and parses it with
// natch's own commands and flags; it checks the stop policy against the
// grace the command is given.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unit, command string
		grace         string // the flag whose grace TimeoutStopSec must exceed; "" for 5 s (HTTP shutdown)
	}{
		{unit: "natch-dispatcher.service", command: "dispatcher"},
		{unit: "natch-scaler.service", command: "scaler", grace: "node-stop-grace"},
		{unit: "natch-worker.service", command: "worker", grace: "shutdown-grace"},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(filepath.Join(deployments, "systemd", tt.unit))
			require.NoError(t, err)
			u := parseUnit(t, string(b))
			env := map[string]string{}
			files := u["Service"]["EnvironmentFile"]
			require.NotEmpty(t, files)
			for _, f := range files {
				for k, v := range parseEnvFile(t, filepath.Join(deployments, "systemd", "env", filepath.Base(strings.TrimPrefix(f, "-")))) {
					env[k] = v
				}
			}
			require.NotEmpty(t, env["NATCH_NATS_URL"], "the NATS URL comes from the environment, not the command line")
			cmd := parseNatch(t, execArgs(t, u.one(t, "ExecStart"), env), env)
			require.Equal(t, tt.command, cmd.Name())
			require.False(t, cmd.Flags().Changed("nats-url"), "credentials stay off the command line")

			require.Equal(t, "SIGTERM", u.one(t, "KillSignal"))
			require.NotEmpty(t, u.one(t, "Restart"))
			require.NotEmpty(t, u.one(t, "User"), "not root")
			grace := 5 * time.Second
			if tt.grace != "" {
				grace, err = cmd.Flags().GetDuration(tt.grace)
				require.NoError(t, err)
			}
			require.Greater(t, stopTimeout(t, u.one(t, "TimeoutStopSec")), grace+5*time.Second,
				"TimeoutStopSec leaves the process its --%s and a margin", tt.grace)
			if tt.command == "worker" {
				require.Empty(t, u["Service"]["ProtectHome"], "tasks may need /home")
				require.Empty(t, u["Service"]["MemoryDenyWriteExecute"], "tasks may JIT")
				require.Equal(t, "mixed", u.one(t, "KillMode"), "the worker stops its tasks itself")
			}
		})
	}
}

// TestAzureCloudInitUnit parses the natch-worker.service that
// deployments/azure/cloud-init.yaml writes on each VM, with the values its
// node-identity script writes, the same way.
func TestAzureCloudInitUnit(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(deployments, "azure", "cloud-init.yaml"))
	require.NoError(t, err)
	var ci struct {
		WriteFiles []struct {
			Path    string `yaml:"path"`
			Content string `yaml:"content"`
		} `yaml:"write_files"`
	}
	require.NoError(t, yaml.Unmarshal(b, &ci))
	var text string
	for _, f := range ci.WriteFiles {
		if f.Path == "/etc/systemd/system/natch-worker.service" {
			text = f.Content
		}
	}
	require.NotEmpty(t, text, "cloud-init writes natch-worker.service")
	u := parseUnit(t, text)
	env := map[string]string{"NATCH_NATS_URL": "nats://127.0.0.1:4222", "NATCH_URL": "https://batch.example.com",
		"NATCH_NODE_ID": "natchp1000003", "NATCH_VM_SIZE": "standard_d2s_v5", "NATCH_ACCOUNT": "natch",
		"NATCH_POOL": "pool1", "NATCH_WORKER_FLAGS": "--low-priority"}
	cmd := parseNatch(t, execArgs(t, u.one(t, "ExecStart"), env), env)
	require.Equal(t, "worker", cmd.Name())
	grace, err := cmd.Flags().GetDuration("shutdown-grace")
	require.NoError(t, err)
	require.Greater(t, stopTimeout(t, u.one(t, "TimeoutStopSec")), grace)
}
