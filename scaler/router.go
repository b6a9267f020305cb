package scaler

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
)

// Route sends the nodes of the pools whose vmSize matches VMSize to
// Provider.
type Route struct {
	// VMSize is a glob (path.Match syntax) on the pool's vmSize, matched
	// case-insensitively. Empty matches every pool: the default route.
	VMSize string
	// Provider serves the matching pools. Required.
	Provider Provider
}

// ErrNoRoute is returned by Router.Start when no route matches the pool's
// vmSize.
var ErrNoRoute = errors.New("scaler: no provider for the pool's vmSize")

// Router is a Provider that hands each node to the provider of the first
// route that matches its pool's vmSize, so that one scaler serves some
// pools with local processes and others with Azure scale sets. It
// implements Adopter for the providers that do.
type Router struct {
	routes []Route

	mu    sync.Mutex
	owner map[string]Provider // started and not known gone, by node id
}

var (
	_ Provider = (*Router)(nil)
	_ Adopter  = (*Router)(nil)
)

// NewRouter returns a Router over routes, tried in order.
func NewRouter(routes []Route) (*Router, error) {
	if len(routes) == 0 {
		return nil, errors.New("scaler: a router needs at least one route")
	}
	for i, r := range routes {
		if r.Provider == nil {
			return nil, fmt.Errorf("scaler: route %d (%q): nil provider", i, r.VMSize)
		}
		if _, err := path.Match(strings.ToLower(r.VMSize), ""); err != nil {
			return nil, fmt.Errorf("scaler: route %d: vmSize %q: %w", i, r.VMSize, err)
		}
	}
	return &Router{routes: routes, owner: make(map[string]Provider)}, nil
}

// ProviderFor returns the provider of the first route matching vmSize, or
// nil.
func (r *Router) ProviderFor(vmSize string) Provider {
	size := strings.ToLower(vmSize)
	for _, rt := range r.routes {
		if ok, _ := path.Match(strings.ToLower(rt.VMSize), size); rt.VMSize == "" || ok {
			return rt.Provider
		}
	}
	return nil
}

// Start starts the node with the provider of its pool's vmSize.
func (r *Router) Start(ctx context.Context, spec NodeSpec) error {
	p := r.ProviderFor(spec.VMSize)
	if p == nil {
		return fmt.Errorf("%w: pool %s, vmSize %q", ErrNoRoute, spec.PoolID, spec.VMSize)
	}
	if err := p.Start(ctx, spec); err != nil {
		return err
	}
	r.mu.Lock()
	r.owner[spec.NodeID] = p
	r.mu.Unlock()
	return nil
}

// Stop stops the node with the provider that started it, or, for a node
// the router did not start (or no longer tracks), with every provider: a
// provider ignores nodes it does not know.
func (r *Router) Stop(ctx context.Context, nodeID string) error {
	r.mu.Lock()
	p := r.owner[nodeID]
	r.mu.Unlock()
	if p != nil {
		return p.Stop(ctx, nodeID)
	}
	var errs []error
	for _, p := range r.providers() {
		errs = append(errs, p.Stop(ctx, nodeID))
	}
	return errors.Join(errs...)
}

// Alive asks the provider that started the node, or every provider.
func (r *Router) Alive(nodeID string) bool {
	r.mu.Lock()
	p := r.owner[nodeID]
	r.mu.Unlock()
	if p != nil {
		if p.Alive(nodeID) {
			return true
		}
		r.mu.Lock()
		delete(r.owner, nodeID) // gone: providers do not bring nodes back
		r.mu.Unlock()
		return false
	}
	for _, p := range r.providers() {
		if p.Alive(nodeID) {
			return true
		}
	}
	return false
}

// Adopt passes the adoption to the provider that started pendingID, when
// it is an Adopter.
func (r *Router) Adopt(pendingID, nodeID string) bool {
	r.mu.Lock()
	p := r.owner[pendingID]
	r.mu.Unlock()
	a, ok := p.(Adopter)
	if !ok || !a.Adopt(pendingID, nodeID) {
		return false
	}
	r.mu.Lock()
	delete(r.owner, pendingID)
	r.mu.Unlock()
	return true
}

// providers returns each route's provider once, in route order.
func (r *Router) providers() []Provider {
	out := make([]Provider, 0, len(r.routes))
	for _, rt := range r.routes {
		seen := false
		for _, p := range out {
			if p == rt.Provider {
				seen = true
			}
		}
		if !seen {
			out = append(out, rt.Provider)
		}
	}
	return out
}

var _ Preempter = (*Router)(nil)

// Preempt evicts the node with the provider that started it, or with every
// provider that can preempt (a provider ignores nodes it does not know).
func (r *Router) Preempt(nodeID string) error {
	r.mu.Lock()
	p := r.owner[nodeID]
	r.mu.Unlock()
	if pp, ok := p.(Preempter); ok {
		return pp.Preempt(nodeID)
	}
	var errs []error
	for _, p := range r.providers() {
		if pp, ok := p.(Preempter); ok {
			errs = append(errs, pp.Preempt(nodeID))
		}
	}
	return errors.Join(errs...)
}

// Preempted reports whether any provider that can preempt says the node
// was preempted.
func (r *Router) Preempted(nodeID string) bool {
	for _, p := range r.providers() {
		if pp, ok := p.(Preempter); ok && pp.Preempted(nodeID) {
			return true
		}
	}
	return false
}
