package azurevmss_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/scaler/provider/azurevmss"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// net/http keeps idle TLS connections of the test server's client.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"))
}

const (
	wait = 10 * time.Second
	poll = 10 * time.Millisecond
)

type testBundle struct {
	arm  *fakeARM
	prov *azurevmss.Provider
}

func setup(t *testing.T, sets map[string]int) *testBundle {
	t.Helper()
	f := newFakeARM(t)
	for name, n := range sets {
		f.addSet(name, n)
	}
	prov, err := azurevmss.New(azurevmss.Config{
		SubscriptionID: subscription, ResourceGroup: group,
		ScaleSets: []azurevmss.ScaleSet{
			{VMSize: "standard_d*", Name: "natch-{pool}", SpotName: "natch-{pool}-spot"},
			{Name: "natch-default"},
		},
		RefreshInterval: time.Hour, // listings come after operations (and the first one)
		MinRefreshGap:   10 * time.Millisecond,
		BatchWindow:     100 * time.Millisecond,
		PollFrequency:   10 * time.Millisecond,
		Credential:      fakeCredential{},
		ClientOptions:   f.options(),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, prov.Close(ctx))
		f.srv.Client().CloseIdleConnections()
	})
	return &testBundle{arm: f, prov: prov}
}

func spec(pool, id, vmSize string, dedicated bool) scaler.NodeSpec {
	return scaler.NodeSpec{Account: "acct", PoolID: pool, NodeID: id, VMSize: vmSize, Dedicated: dedicated, Slots: 1}
}

func TestScaleSetName(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	tests := []struct {
		name string
		spec scaler.NodeSpec
		want string
	}{
		{name: "GlobMatchesCaseInsensitively", spec: spec("Pool1", "x", "STANDARD_D2s_v5", true), want: "natch-pool1"},
		{name: "SpotForLowPriority", spec: spec("pool1", "x", "standard_d2s_v5", false), want: "natch-pool1-spot"},
		{name: "DefaultRule", spec: spec("pool1", "x", "standard_a1", true), want: "natch-default"},
		{name: "DefaultRuleHasNoSpot", spec: spec("pool1", "x", "standard_a1", false), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, b.prov.ScaleSetName(tt.spec))
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := azurevmss.Config{SubscriptionID: "s", ResourceGroup: "g", ScaleSets: []azurevmss.ScaleSet{{Name: "n"}}}
	require.NoError(t, ok.Validate())
	for name, mutate := range map[string]func(*azurevmss.Config){
		"NoSubscription": func(c *azurevmss.Config) { c.SubscriptionID = "" },
		"NoGroup":        func(c *azurevmss.Config) { c.ResourceGroup = "" },
		"NoRules":        func(c *azurevmss.Config) { c.ScaleSets = nil },
		"NoName":         func(c *azurevmss.Config) { c.ScaleSets = []azurevmss.ScaleSet{{VMSize: "x"}} },
		"BadGlob":        func(c *azurevmss.Config) { c.ScaleSets = []azurevmss.ScaleSet{{VMSize: "[", Name: "n"}} },
	} {
		c := ok
		c.ScaleSets = append([]azurevmss.ScaleSet(nil), ok.ScaleSets...)
		mutate(&c)
		require.Error(t, c.Validate(), name)
	}
}

// TestStartsBatchIntoOneCapacityUpdate starts three nodes at once: one GET
// of the scale set and one PATCH raising its capacity from 1 to 4, a
// long-running operation polled through Azure-AsyncOperation; the three new
// instances are bound to the three starts, which the nodes then take over
// when they register under their computer names.
func TestStartsBatchIntoOneCapacityUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]int{"natch-pool1": 1})
	ctx := t.Context()
	starts := []string{"tvmps_a_d", "tvmps_b_d", "tvmps_c_d"}
	for _, id := range starts {
		require.NoError(t, b.prov.Start(ctx, spec("pool1", id, "standard_d2s_v5", true)))
	}
	for _, id := range starts {
		require.True(t, b.prov.Alive(id), "a queued start is alive")
	}
	require.Eventually(t, func() bool { return len(b.arm.instances("natch-pool1")) == 4 }, wait, poll)
	// The fake's capacity changes before the poller has made its last requests.
	require.Eventually(t, func() bool { return len(b.arm.requests("GET", "/natch-pool1")) == 2 }, wait, poll,
		"the capacity read, and the final GET of the update")

	patches := b.arm.requests("PATCH", "/natch-pool1")
	require.Len(t, patches, 1, "one capacity update for three starts")
	require.JSONEq(t, `{"sku":{"capacity":4}}`, patches[0].Body)
	require.Equal(t, apiVersion, patches[0].APIVersion)
	require.Equal(t, 200, patches[0].Status)
	polls := b.arm.requests("GET", "/operations/op-1")
	require.Len(t, polls, 2, "InProgress, then Succeeded")
	require.Len(t, b.arm.requests("GET", "/natch-pool1"), 2, "the capacity read, and the final GET of the update")
	require.Empty(t, b.arm.requests("POST", ""), "nothing deleted")

	// The listing after the update binds the new instances 1, 2, 3 to the starts.
	require.Eventually(t, func() bool { return len(b.arm.requests("GET", "/virtualMachines")) >= 2 }, wait, poll)
	require.Eventually(t, func() bool { return b.prov.Alive(computerName(3)) }, wait, poll)
	require.True(t, b.prov.Alive(computerName(0)), "the instance that was there before")
	require.False(t, b.prov.Alive("natch0000zz"), "not an instance")
	for i, id := range starts {
		require.True(t, b.prov.Adopt(id, computerName(i+1)))
		require.False(t, b.prov.Alive(id), "an adopted start is forgotten")
		require.True(t, b.prov.Alive(computerName(i+1)))
	}
	require.False(t, b.prov.Adopt("tvmps_unknown_d", computerName(1)))
}

// TestStopDeletesTheNodesInstance stops a registered node: its own instance
// is deleted (POST …/delete with its instance id), the capacity is never
// lowered by an update, and the node is no longer alive once the deletion
// is done.
func TestStopDeletesTheNodesInstance(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]int{"natch-pool1": 3})
	ctx := t.Context()
	require.NoError(t, b.prov.Start(ctx, spec("pool1", "tvmps_a_d", "standard_d2s_v5", true)))
	require.Eventually(t, func() bool { return b.prov.Alive(computerName(2)) }, wait, poll) // listed

	require.NoError(t, b.prov.Stop(ctx, computerName(1)))
	require.NoError(t, b.prov.Stop(ctx, computerName(2)))
	require.NoError(t, b.prov.Stop(ctx, "natch-unknown"), "an unknown node is no error")
	require.Eventually(t, func() bool { return len(b.arm.requests("POST", "/natch-pool1/delete")) == 1 }, wait, poll)
	del := b.arm.requests("POST", "/natch-pool1/delete")[0]
	require.JSONEq(t, `{"instanceIds":["1","2"]}`, del.Body, "both stops in one request")
	require.Equal(t, apiVersion, del.APIVersion)
	require.Equal(t, 202, del.Status)
	require.Eventually(t, func() bool {
		return !b.prov.Alive(computerName(1)) && !b.prov.Alive(computerName(2))
	}, wait, poll)
	require.True(t, b.prov.Alive(computerName(0)))
	// The fake fails the test on any PATCH that lowers the capacity.
	require.Eventually(t, func() bool { return len(b.arm.instances("natch-pool1")) == 2 }, wait, poll, "3 - 2 deleted + 1 started")
	require.Len(t, b.arm.requests("PATCH", ""), 1)
}

// TestStoppedStartDeletesItsInstance cancels a start whose capacity was
// raised but whose VM has not registered: the instance that came for it is
// deleted, not some other one, and the capacity is not lowered.
func TestStoppedStartDeletesItsInstance(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]int{"natch-pool1": 1})
	ctx := t.Context()
	require.NoError(t, b.prov.Start(ctx, spec("pool1", "tvmps_a_d", "standard_d2s_v5", true)))
	require.Eventually(t, func() bool { return len(b.arm.requests("GET", "/virtualMachines")) >= 2 }, wait, poll)
	require.Eventually(t, func() bool { return b.prov.Alive(computerName(1)) }, wait, poll)
	require.NoError(t, b.prov.Stop(ctx, "tvmps_a_d"))
	require.Eventually(t, func() bool { return len(b.arm.requests("POST", "/natch-pool1/delete")) == 1 }, wait, poll)
	require.JSONEq(t, `{"instanceIds":["1"]}`, b.arm.requests("POST", "/natch-pool1/delete")[0].Body)
	require.Eventually(t, func() bool { return !b.prov.Alive("tvmps_a_d") }, wait, poll)
	require.Equal(t, []int{0}, b.arm.instances("natch-pool1"))
}

// TestStopBeforeSendCancelsTheStart stops a start still waiting for its
// batch: no request is sent at all.
func TestStopBeforeSendCancelsTheStart(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]int{"natch-pool1": 0})
	ctx := t.Context()
	require.NoError(t, b.prov.Start(ctx, spec("pool1", "tvmps_a_d", "standard_d2s_v5", true)))
	require.NoError(t, b.prov.Stop(ctx, "tvmps_a_d"))
	require.False(t, b.prov.Alive("tvmps_a_d"))
	require.NoError(t, b.prov.Start(ctx, spec("pool1", "tvmps_b_d", "standard_d2s_v5", true)))
	require.Eventually(t, func() bool { return len(b.arm.instances("natch-pool1")) == 1 }, wait, poll)
	patches := b.arm.requests("PATCH", "")
	require.Len(t, patches, 1)
	require.JSONEq(t, `{"sku":{"capacity":1}}`, patches[0].Body, "only b's increase")
}

// TestFailedUpdateKillsItsStarts answers the capacity update with a 409
// (quota): the start is no longer alive, so the scaler replaces it.
func TestFailedUpdateKillsItsStarts(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]int{"natch-pool1-spot": 0})
	b.arm.mu.Lock()
	b.arm.failNext = true
	b.arm.mu.Unlock()
	require.NoError(t, b.prov.Start(t.Context(), spec("pool1", "tvmps_a_p", "standard_d2s_v5", false)))
	require.Eventually(t, func() bool { return !b.prov.Alive("tvmps_a_p") }, wait, poll)
	patches := b.arm.requests("PATCH", "/natch-pool1-spot")
	require.Len(t, patches, 1)
	require.Equal(t, 409, patches[0].Status)
	require.Empty(t, b.arm.instances("natch-pool1-spot"))
}

func TestStartWithoutScaleSetFails(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	err := b.prov.Start(t.Context(), spec("pool1", "tvmps_a_p", "standard_a1", false))
	require.ErrorIs(t, err, azurevmss.ErrNoScaleSet)
}

// TestThrottledListingIsRetried answers the first listing with 429 and
// Retry-After: 1: the SDK waits a second and lists again, and Alive then
// answers from the listing. Many Alive calls make no request.
func TestThrottledListingIsRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]int{"natch-pool1": 2})
	b.arm.mu.Lock()
	b.arm.throttle = 1
	b.arm.mu.Unlock()
	// The first start creates the scale set's state, and its first listing.
	require.NoError(t, b.prov.Start(t.Context(), spec("pool1", "tvmps_a_d", "standard_d2s_v5", true)))
	require.Eventually(t, func() bool { return b.prov.Alive(computerName(1)) }, wait, poll)
	lists := b.arm.requests("GET", "/virtualMachines")
	require.GreaterOrEqual(t, len(lists), 2)
	require.Equal(t, 429, lists[0].Status)
	require.Equal(t, 200, lists[1].Status)
	require.GreaterOrEqual(t, lists[1].At.Sub(lists[0].At), 900*time.Millisecond, "Retry-After honoured")

	before := len(b.arm.requests("GET", "/virtualMachines"))
	for range 1000 {
		b.prov.Alive(computerName(0))
		b.prov.Alive("natch-unknown")
	}
	require.LessOrEqual(t, len(b.arm.requests("GET", "/virtualMachines")), before+2,
		"Alive reads the cache; only operations trigger listings")
}
