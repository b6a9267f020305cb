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
// knows only its own nodes (the processes it started, the VMs of its scale
// sets), and Alive is false for any other.
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
	// false for nodes that exited and for nodes this provider does not know.
	Alive(nodeID string) bool
}

// Adopter is implemented by providers whose nodes choose their own ids (a
// VM's computer name): the scaler starts a node under a placeholder id, and
// the node registers under another. When a node the scaler has not seen
// before registers and the pool has unregistered starts of the same kind
// (dedicated or not), the scaler offers the oldest of them: Adopt reports
// whether the provider accepts that the node started as pendingID is
// nodeID. The scaler then forgets pendingID.
type Adopter interface {
	Adopt(pendingID, nodeID string) bool
}

// Preempter is implemented by providers whose low-priority (spot) nodes can
// be evicted: by the cloud (a spot VM's eviction) or on demand (natch's
// preempt operation, the local provider's test hook).
//
// When a node's record says preempted (the dispatcher's preempt operation
// set it) and its process is still there, the scaler calls Preempt. When
// the provider says a node was preempted and its record does not say so
// yet, the scaler sets the record to preempted. Either way the node stops
// counting towards the pool's targets, so a replacement is started, and its
// running tasks come back to the queue as requeues.
type Preempter interface {
	// Preempt evicts the node at once, as the cloud would: no grace, the
	// agent is killed. It does not wait; a node the provider does not know
	// is no error.
	Preempt(nodeID string) error
	// Preempted reports whether the node was evicted (by Preempt or by the
	// cloud).
	Preempted(nodeID string) bool
}
