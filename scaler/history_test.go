package scaler_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// publishSamples stores n samples of pool, one a second up to now, with
// $PendingTasks 0, 1, … n-1.
func publishSamples(tb testing.TB, js jetstream.JetStream, pool string, n int, now time.Time) {
	tb.Helper()
	var acks []jetstream.PubAckFuture
	for i := range n {
		raw, err := json.Marshal(protocol.PoolSample{At: now.Add(time.Duration(i-n+1) * time.Second).UTC(), Pending: float64(i)})
		require.NoError(tb, err)
		f, err := js.PublishAsync(topology.MetricsSubject(account, pool), raw)
		require.NoError(tb, err)
		acks = append(acks, f)
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			tb.Fatal(err)
		}
	}
}

// TestReadSamples reads a pool's history, oldest first, within (from, now]
// and only of that pool.
func TestReadSamples(t *testing.T) {
	t.Parallel()
	js := natstest.Run(t)
	ctx := t.Context()
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{Memory: true}))
	none, err := scaler.ReadSamples(ctx, js, account, "p", time.Now().Add(-time.Hour), time.Now())
	require.NoError(t, err)
	require.Empty(t, none)

	now := time.Now()
	publishSamples(t, js, "p", 10, now)
	publishSamples(t, js, "other", 3, now)
	got, err := scaler.ReadSamples(ctx, js, account, "p", now.Add(-5500*time.Millisecond), now.Add(-time.Second))
	require.NoError(t, err)
	var pending []float64
	for _, s := range got {
		pending = append(pending, s.Pending)
	}
	require.Equal(t, []float64{4, 5, 6, 7, 8}, pending)
}

// BenchmarkReadSamples reads a full hour of one-second samples: what a
// scaler does when it takes a pool over, and evaluateautoscale on every
// call.
func BenchmarkReadSamples(b *testing.B) {
	js := natstest.Run(b)
	ctx := b.Context()
	require.NoError(b, topology.Ensure(ctx, js, topology.Options{}))
	now := time.Now()
	n := int(scaler.SampleHistory / scaler.SamplePeriod)
	publishSamples(b, js, "p", n, now)
	for b.Loop() {
		got, err := scaler.ReadSamples(ctx, js, account, "p", now.Add(-scaler.SampleHistory), now)
		if err != nil || len(got) != n {
			b.Fatalf("read %d samples of %d: %v", len(got), n, err)
		}
	}
}
