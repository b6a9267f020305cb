package scaler

import "context"

// NodeSpec says what node a Provider starts.
type NodeSpec struct {
	Account   string // account name (lower case)
	PoolID    string // pool id as the user gave it
	NodeID    string // node id the scaler chose; unique, lower case, a valid subject token
	Dedicated bool   // false for a low-priority (spot) node
	VMSize    string // the pool's vmSize
	Slots     int    // the pool's taskSlotsPerNode (at least 1)
}

// Provider brings compute nodes up and down: child processes on this
// machine (provider/local), VMs of a scale set, and so on. The scaler calls
// it from one goroutine; implementations must still be safe for concurrent
// use, since their owner closes them from another.
//
// Node identity lives in the nodes bucket, not in the provider: a provider
// only knows the nodes it started itself, and Alive is false for any other.
type Provider interface {
	// Start asks for a new node. It returns once the node is on its way
	// (process forked, VM requested); the node registers itself in the nodes
	// bucket when its agent is up.
	Start(ctx context.Context, spec NodeSpec) error
	// Stop asks a node to leave: gracefully first (SIGTERM, deallocate), by
	// force when the provider's grace runs out. It does not wait for the
	// node to be gone, it is idempotent, and a node it does not know is no
	// error.
	Stop(ctx context.Context, nodeID string) error
	// Alive reports whether the node's process or VM still exists. It is
	// false for nodes that exited and for nodes this provider did not start.
	Alive(nodeID string) bool
}
