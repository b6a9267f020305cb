// Package natstest runs a real embedded nats-server with JetStream for tests:
// a temporary store directory, a random port on 127.0.0.1, stopped when the
// test ends.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server starts an embedded JetStream server and returns it; it shuts down
// when the test ends.
func Server(tb testing.TB) *server.Server {
	tb.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatalf("natstest: new server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatal("natstest: server not ready")
	}
	tb.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// Connect connects to srv; the connection closes when the test ends.
func Connect(tb testing.TB, srv *server.Server) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		tb.Fatalf("natstest: connect: %v", err)
	}
	tb.Cleanup(nc.Close) // LIFO: closes before the server stops
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// Run starts a server and returns a JetStream context connected to it.
func Run(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	_, js := Connect(tb, Server(tb))
	return js
}

// Cluster starts n embedded JetStream servers clustered with each other
// (routes on free ports of 127.0.0.1, cluster "natstest") and waits for
// them (WaitCluster).
// Creating replicated streams on a busy machine takes a while: give calls
// a deadline of their own (JetStream's default is 5 s). They shut down when
// the test ends.
func Cluster(tb testing.TB, n int) []*server.Server {
	tb.Helper()
	ports := make([]int, n)
	routes := make([]*url.URL, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("natstest: free port: %v", err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		routes[i] = &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])}
	}
	srvs := make([]*server.Server, n)
	for i := range n {
		srv, err := server.NewServer(&server.Options{ServerName: fmt.Sprintf("s%d", i+1),
			Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: tb.TempDir(),
			NoLog: true, NoSigs: true, Routes: routes,
			Cluster: server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: ports[i]}})
		if err != nil {
			tb.Fatalf("natstest: new server: %v", err)
		}
		go srv.Start()
		tb.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
		srvs[i] = srv
	}
	WaitCluster(tb, srvs)
	return srvs
}

// WaitCluster waits up to 30 s until the servers are routed to each other,
// JetStream is clustered and current on each, and one is the meta leader
// and sees every server online (so replicated streams can be placed).
func WaitCluster(tb testing.TB, srvs []*server.Server) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready, leader := 0, false
		for _, s := range srvs {
			if s.ReadyForConnections(10*time.Millisecond) && s.NumRoutes() >= len(srvs)-1 &&
				s.JetStreamIsClustered() && s.JetStreamIsCurrent() {
				ready++
			}
			// The meta leader places replicas only on peers it has stats of.
			leader = leader || (s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == len(srvs))
		}
		if ready == len(srvs) && leader {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("natstest: no JetStream cluster formed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
