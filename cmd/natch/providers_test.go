package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/scaler/provider/azurevmss"
)

type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t"}, nil
}

// nopProvider stands in for the local provider.
type nopProvider struct{}

func (nopProvider) Start(context.Context, scaler.NodeSpec) error { return nil }
func (nopProvider) Stop(context.Context, string) error           { return nil }
func (nopProvider) Alive(string) bool                            { return false }

func TestProvidersFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	locals := 0
	newLocal := func() (scaler.Provider, closer, error) {
		locals++
		return nopProvider{}, func(context.Context) error { return nil }, nil
	}

	// No file: the --provider default, no router.
	p, closeP, err := buildProvider(nil, providerLocal, newLocal, nil)
	require.NoError(t, err)
	require.Equal(t, nopProvider{}, p)
	require.NoError(t, closeP(t.Context()))

	f, err := loadProviders(write("ok.json", `{
	  "default": "local",
	  "routes": [{"vmSize": "standard_d*", "provider": "azure-vmss"}],
	  "azureVmss": {"subscriptionId": "sub", "resourceGroup": "rg",
	                "scaleSets": [{"name": "natch-{pool}", "spotName": "natch-{pool}-spot"}]}}`))
	require.NoError(t, err)
	require.Equal(t, []azurevmss.ScaleSet{{Name: "natch-{pool}", SpotName: "natch-{pool}-spot"}}, f.AzureVMSS.ScaleSets)
	f.AzureVMSS.Credential = staticToken{} // no DefaultAzureCredential in a test
	locals = 0
	p, closeP, err = buildProvider(f, providerLocal, newLocal, nil)
	require.NoError(t, err)
	r, ok := p.(*scaler.Router)
	require.True(t, ok, "two providers: a router")
	require.IsType(t, &azurevmss.Provider{}, r.ProviderFor("Standard_D2s_v5"))
	require.Equal(t, nopProvider{}, r.ProviderFor("standard_a1"))
	require.Equal(t, 1, locals)
	require.NoError(t, closeP(t.Context()))

	_, err = loadProviders(write("unknown.json", `{"defualt": "local"}`))
	require.ErrorContains(t, err, "unknown field")
	_, err = loadProviders(filepath.Join(dir, "missing.json"))
	require.Error(t, err)
	_, _, err = buildProvider(&providersFile{Default: "kubernetes"}, providerLocal, newLocal, nil)
	require.ErrorContains(t, err, `unknown provider "kubernetes"`)
	_, _, err = buildProvider(&providersFile{Default: providerAzureVMSS}, providerLocal, newLocal, nil)
	require.ErrorContains(t, err, "azureVmss section")
	_, _, err = buildProvider(&providersFile{AzureVMSS: &azurevmss.Config{SubscriptionID: "s"}}, providerAzureVMSS, newLocal, nil)
	require.ErrorContains(t, err, "resourceGroup is required")
}
