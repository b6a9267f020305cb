package deployments_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/natstest"
)

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNATSClusterConfig loads nats/nats-{1,2,3}.conf with nats-server's own
// parser, checks what natch relies on, moves the ports and store to local
// ones and runs the three as a JetStream cluster that a client using the
// config's user can put an R3 stream on.
func TestNATSClusterConfig(t *testing.T) {
	t.Parallel()
	const n = 3
	opts := make([]*server.Options, n)
	for i := range n {
		o, err := server.ProcessConfigFile(filepath.Join("nats", fmt.Sprintf("nats-%d.conf", i+1)))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("nats-%d", i+1), o.ServerName)
		require.True(t, o.JetStream, "JetStream on")
		require.NotEmpty(t, o.StoreDir, "a JetStream store dir")
		require.GreaterOrEqual(t, o.MaxPayload, int32(8<<20), "max_payload fit for natch (natch up uses 8 MB)")
		require.Positive(t, o.HTTPPort, "monitoring port")
		require.Equal(t, "natch", o.Cluster.Name)
		require.Len(t, o.Routes, n, "a route to every server")
		require.NotEmpty(t, o.Users, "client users")
		if i > 0 { // the three agree on everything but the name
			p := opts[0]
			require.Equal(t, p.Port, o.Port)
			require.Equal(t, p.HTTPPort, o.HTTPPort)
			require.Equal(t, p.MaxPayload, o.MaxPayload)
			require.Equal(t, p.StoreDir, o.StoreDir)
			require.Equal(t, p.JetStreamMaxMemory, o.JetStreamMaxMemory)
			require.Equal(t, p.Cluster.Name, o.Cluster.Name)
			require.Equal(t, p.Cluster.Port, o.Cluster.Port)
			require.Equal(t, p.Cluster.Username, o.Cluster.Username)
			require.Equal(t, p.Cluster.Password, o.Cluster.Password)
			require.Equal(t, fmt.Sprint(p.Routes), fmt.Sprint(o.Routes))
			require.Equal(t, p.Users[0].Username, o.Users[0].Username)
			require.Equal(t, p.Users[0].Password, o.Users[0].Password)
		}
		for _, r := range o.Routes {
			require.Equal(t, o.Cluster.Username, r.User.Username(), "routes carry the cluster's user")
		}
		opts[i] = o
	}

	// The same configs on local ports: route k of every server goes to
	// nats-<k>'s cluster port.
	clusterPorts := make(map[string]int, n)
	for i := range n {
		clusterPorts[fmt.Sprintf("nats-%d", i+1)] = freePort(t)
	}
	srvs := make([]*server.Server, n)
	for i, o := range opts {
		o.Host, o.Port = "127.0.0.1", server.RANDOM_PORT
		o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
		o.Cluster.Host, o.Cluster.Port = "127.0.0.1", clusterPorts[o.ServerName]
		o.StoreDir = t.TempDir()
		o.NoLog, o.NoSigs = true, true
		for _, r := range o.Routes {
			name, _, _ := strings.Cut(r.Hostname(), ".")
			port, ok := clusterPorts[name]
			require.True(t, ok, "route %s names no server of the cluster", r.Host)
			r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		}
		srv, err := server.NewServer(o)
		require.NoError(t, err, "server %d", i+1)
		go srv.Start()
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
		srvs[i] = srv
	}
	natstest.WaitCluster(t, srvs)

	urls := make([]string, n)
	for i, s := range srvs {
		urls[i] = s.ClientURL()
	}
	u := opts[0].Users[0]
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(u.Username, u.Password))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	require.Equal(t, int64(opts[0].MaxPayload), nc.MaxPayload())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	require.NoError(t, err)
	ack, err := js.Publish(ctx, "r3.x", make([]byte, 4<<20)) // a 4 MB message fits
	require.NoError(t, err)
	require.Equal(t, uint64(1), ack.Sequence)
}
