// Package config is the connection file natch up writes and clients read:
// the API URL, the NATS URL, the account name and its key.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ConnectionFile is the name of the file natch up writes into its data dir.
const ConnectionFile = "connection.json"

// Connection says how to reach a natch service.
type Connection struct {
	URL     string `json:"url"`     // REST API, e.g. http://127.0.0.1:8765
	NatsURL string `json:"natsUrl"` // e.g. nats://127.0.0.1:4222
	Account string `json:"account"` // account name
	Key     string `json:"key"`     // base64 account key
}

// Write writes c to dir/connection.json (mode 0600: it holds a key),
// atomically.
func Write(dir string, c Connection) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ConnectionFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write connection file: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, ConnectionFile))
}

// Read reads a connection file.
func Read(path string) (Connection, error) {
	var c Connection
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", path, err)
	}
	return c, nil
}

// Env names clients read.
const (
	EnvURL     = "NATCH_URL"
	EnvNatsURL = "NATCH_NATS_URL"
	EnvAccount = "NATCH_ACCOUNT"
	EnvKey     = "NATCH_KEY"
	EnvConfig  = "NATCH_CONFIG" // path of a connection file
)

// DefaultDataDir is where natch up keeps its state unless told otherwise.
const DefaultDataDir = "natch-data"

// Resolve fills the empty fields of c from the environment, then from a
// connection file: $NATCH_CONFIG, else ./natch-data/connection.json, else
// ~/.config/natch/connection.json.
func Resolve(c Connection, getenv func(string) string) (Connection, error) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&c.URL, getenv(EnvURL))
	fill(&c.NatsURL, getenv(EnvNatsURL))
	fill(&c.Account, getenv(EnvAccount))
	fill(&c.Key, getenv(EnvKey))
	if c.URL != "" && c.Account != "" && c.Key != "" {
		return c, nil
	}
	var paths []string
	if p := getenv(EnvConfig); p != "" {
		paths = append(paths, p)
	} else {
		paths = append(paths, filepath.Join(DefaultDataDir, ConnectionFile))
		if home, err := os.UserHomeDir(); err == nil {
			paths = append(paths, filepath.Join(home, ".config", "natch", ConnectionFile))
		}
	}
	for _, p := range paths {
		f, err := Read(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return c, err
		}
		fill(&c.URL, f.URL)
		fill(&c.NatsURL, f.NatsURL)
		fill(&c.Account, f.Account)
		fill(&c.Key, f.Key)
		break
	}
	if c.URL == "" || c.Account == "" || c.Key == "" {
		return c, errors.New("no natch endpoint: pass --url/--account/--key, set NATCH_URL/NATCH_ACCOUNT/NATCH_KEY, or run natch up here (it writes natch-data/connection.json)")
	}
	return c, nil
}
