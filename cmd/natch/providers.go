package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/scaler/provider/azurevmss"
)

// Provider names of `natch scaler --provider` and the providers file.
const (
	providerLocal     = "local"
	providerAzureVMSS = "azure-vmss"
)

// providersFile is the JSON file of `natch scaler --providers FILE`: which
// provider serves a pool, by the pool's vmSize, and the providers' settings.
//
//	{
//	  "default": "local",
//	  "routes": [{"vmSize": "standard_d*", "provider": "azure-vmss"}],
//	  "azureVmss": {
//	    "subscriptionId": "00000000-0000-0000-0000-000000000000",
//	    "resourceGroup": "natch",
//	    "scaleSets": [{"name": "natch-{pool}", "spotName": "natch-{pool}-spot"}]
//	  }
//	}
type providersFile struct {
	// Default serves the pools no route matches: "local" or "azure-vmss".
	// Empty: the --provider flag.
	Default string `json:"default,omitempty"`
	// Routes are tried in order; vmSize is a case-insensitive glob.
	Routes []providerRoute `json:"routes,omitempty"`
	// AzureVMSS configures the azure-vmss provider (required when used).
	AzureVMSS *azurevmss.Config `json:"azureVmss,omitempty"`
}

type providerRoute struct {
	VMSize   string `json:"vmSize"`
	Provider string `json:"provider"`
}

// loadProviders reads a providers file; unknown fields are errors.
func loadProviders(path string) (*providersFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--providers: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f providersFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("--providers %s: %w", path, err)
	}
	return &f, nil
}

// closer is what a provider's owner closes when the scaler stops.
type closer func(context.Context) error

// buildProvider builds the scaler's provider: with no file, the provider
// named def; with one, a router over the file's routes and default. The
// local provider is built by newLocal, only when a route uses it.
func buildProvider(f *providersFile, def string, newLocal func() (scaler.Provider, closer, error),
	log *slog.Logger) (scaler.Provider, closer, error) {
	if f == nil {
		f = &providersFile{}
	}
	if f.Default == "" {
		f.Default = def
	}
	built := map[string]scaler.Provider{}
	var closers []closer
	closeAll := func(ctx context.Context) error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c(ctx))
		}
		return errors.Join(errs...)
	}
	get := func(name string) (scaler.Provider, error) {
		if p, ok := built[name]; ok {
			return p, nil
		}
		var p scaler.Provider
		switch name {
		case providerLocal:
			lp, c, err := newLocal()
			if err != nil {
				return nil, err
			}
			p = lp
			closers = append(closers, c)
		case providerAzureVMSS:
			if f.AzureVMSS == nil {
				return nil, errors.New("--providers: provider azure-vmss needs an azureVmss section")
			}
			cfg := *f.AzureVMSS
			cfg.Logger = log
			ap, err := azurevmss.New(cfg)
			if err != nil {
				return nil, err
			}
			p = ap
			closers = append(closers, ap.Close)
		default:
			return nil, fmt.Errorf("unknown provider %q (want %s or %s)", name, providerLocal, providerAzureVMSS)
		}
		built[name] = p
		return p, nil
	}
	routes := make([]scaler.Route, 0, len(f.Routes)+1)
	for _, r := range append(f.Routes, providerRoute{Provider: f.Default}) {
		p, err := get(r.Provider)
		if err != nil {
			return nil, nil, errors.Join(err, closeAll(context.Background()))
		}
		routes = append(routes, scaler.Route{VMSize: r.VMSize, Provider: p})
	}
	if len(routes) == 1 {
		return routes[0].Provider, closeAll, nil // one provider: no router in between
	}
	router, err := scaler.NewRouter(routes)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("--providers: %w", err), closeAll(context.Background()))
	}
	return router, closeAll, nil
}
