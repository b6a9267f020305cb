package azurevmss

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/natch-io/natch/scaler"
)

// ScaleSet is a rule of Config.ScaleSets: the scale sets that serve the
// pools whose vmSize matches VMSize.
type ScaleSet struct {
	// VMSize is a glob (path.Match syntax, case-insensitive) on the pool's
	// vmSize, e.g. "standard_d*s_v5". Empty matches every pool.
	VMSize string `json:"vmSize,omitempty"`
	// Name is the scale set of the dedicated nodes. {account} and {pool}
	// are replaced by the account name and the pool id in lower case.
	// Required.
	Name string `json:"name"`
	// SpotName is the scale set of the low-priority nodes: one created with
	// priority Spot. Same placeholders as Name. Empty: the pools of this
	// rule get no low-priority nodes (starting one fails).
	SpotName string `json:"spotName,omitempty"`
}

// Config configures a Provider. The JSON form (subscriptionId,
// resourceGroup, scaleSets) is what `natch scaler --providers` reads.
type Config struct {
	// SubscriptionID is the Azure subscription of the scale sets. Required.
	SubscriptionID string `json:"subscriptionId"`
	// ResourceGroup holds the scale sets. Required.
	ResourceGroup string `json:"resourceGroup"`
	// ScaleSets picks a pool's scale sets: the first rule whose VMSize
	// matches the pool's vmSize. At least one is required.
	ScaleSets []ScaleSet `json:"scaleSets"`

	// RefreshInterval is how often each scale set's instances are listed
	// (and so how stale Alive may be). Defaults to 15s.
	RefreshInterval time.Duration `json:"-"`
	// MinRefreshGap is the least time between two listings of a scale set,
	// however often operations ask for one. Defaults to 2s.
	MinRefreshGap time.Duration `json:"-"`
	// BatchWindow is how long a start or stop waits for others to join its
	// request. Defaults to 200ms.
	BatchWindow time.Duration `json:"-"`
	// PollFrequency is the polling interval of long-running operations when
	// Azure sends no Retry-After. The SDK refuses less than 1s outside
	// tests. Defaults to 5s.
	PollFrequency time.Duration `json:"-"`
	// OpTimeout bounds one operation, its polling included. Defaults to 20m.
	OpTimeout time.Duration `json:"-"`
	// Credential authenticates to Resource Manager. Defaults to
	// azidentity.NewDefaultAzureCredential (environment, workload identity,
	// managed identity, Azure CLI).
	Credential azcore.TokenCredential `json:"-"`
	// ClientOptions are passed to the armcompute clients (cloud, transport,
	// retry). Optional.
	ClientOptions *arm.ClientOptions `json:"-"`
	// Logger defaults to discarding.
	Logger *slog.Logger `json:"-"`
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time `json:"-"`
}

func (c Config) withDefaults() (Config, error) {
	c.RefreshInterval = cmp.Or(c.RefreshInterval, 15*time.Second)
	c.MinRefreshGap = cmp.Or(c.MinRefreshGap, 2*time.Second)
	c.BatchWindow = cmp.Or(c.BatchWindow, 200*time.Millisecond)
	c.PollFrequency = cmp.Or(c.PollFrequency, 5*time.Second)
	c.OpTimeout = cmp.Or(c.OpTimeout, 20*time.Minute)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Credential == nil {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return c, fmt.Errorf("azure-vmss provider: credential: %w", err)
		}
		c.Credential = cred
	}
	return c, nil
}

// Validate checks the settings that come from a configuration file.
func (c Config) Validate() error {
	switch {
	case c.SubscriptionID == "":
		return errors.New("azure-vmss provider: subscriptionId is required")
	case c.ResourceGroup == "":
		return errors.New("azure-vmss provider: resourceGroup is required")
	case len(c.ScaleSets) == 0:
		return errors.New("azure-vmss provider: at least one scaleSets rule is required")
	case c.RefreshInterval < 0, c.MinRefreshGap < 0, c.BatchWindow < 0, c.PollFrequency < 0, c.OpTimeout < 0:
		return errors.New("azure-vmss provider: durations must not be negative")
	}
	for i, r := range c.ScaleSets {
		if r.Name == "" {
			return fmt.Errorf("azure-vmss provider: scaleSets[%d]: name is required", i)
		}
		if _, err := path.Match(strings.ToLower(r.VMSize), ""); err != nil {
			return fmt.Errorf("azure-vmss provider: scaleSets[%d]: vmSize %q: %w", i, r.VMSize, err)
		}
	}
	return nil
}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("azure-vmss provider: closed")

// ErrNoScaleSet is returned by Start when no rule serves the node's pool
// (or, for a low-priority node, the rule has no SpotName).
var ErrNoScaleSet = errors.New("azure-vmss provider: no scale set for the pool")

// Provider runs compute nodes as VMs of Azure scale sets. It implements
// scaler.Provider and scaler.Adopter.
type Provider struct {
	cfg  Config
	log  *slog.Logger
	sets *armcompute.VirtualMachineScaleSetsClient
	vms  *armcompute.VirtualMachineScaleSetVMsClient

	ctx    context.Context // cancelled by Close; the scale sets' goroutines run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex // guards everything below and every scaleSet's state
	closed    bool
	scaleSets map[string]*scaleSet // by name
	starts    map[string]*start    // by placeholder id
}

var (
	_ scaler.Provider = (*Provider)(nil)
	_ scaler.Adopter  = (*Provider)(nil)
)

// start is a node the scaler asked for and that has not registered yet.
type start struct {
	id        string
	set       *scaleSet
	sent      bool   // its capacity increase was requested
	failed    bool   // the request failed: no VM comes for it
	cancelled bool   // stopped before it registered
	instance  string // the instance that came for it, "" until listed
}

// New returns a Provider. It does no I/O (DefaultAzureCredential, when no
// Credential is given, reads only the environment).
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sets, err := armcompute.NewVirtualMachineScaleSetsClient(cfg.SubscriptionID, cfg.Credential, cfg.ClientOptions)
	if err != nil {
		return nil, fmt.Errorf("azure-vmss provider: %w", err)
	}
	vms, err := armcompute.NewVirtualMachineScaleSetVMsClient(cfg.SubscriptionID, cfg.Credential, cfg.ClientOptions)
	if err != nil {
		return nil, fmt.Errorf("azure-vmss provider: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{cfg: cfg, log: cfg.Logger.With("component", "azure-vmss-provider"), sets: sets, vms: vms,
		ctx: ctx, cancel: cancel, scaleSets: make(map[string]*scaleSet), starts: make(map[string]*start)}, nil
}

// ScaleSetName returns the scale set that serves a node of spec, or "" when
// no rule does.
func (p *Provider) ScaleSetName(spec scaler.NodeSpec) string {
	size := strings.ToLower(spec.VMSize)
	for _, r := range p.cfg.ScaleSets {
		if ok, _ := path.Match(strings.ToLower(r.VMSize), size); r.VMSize != "" && !ok {
			continue
		}
		name := r.Name
		if !spec.Dedicated {
			name = r.SpotName
		}
		if name == "" {
			return ""
		}
		return strings.NewReplacer("{account}", strings.ToLower(spec.Account), "{pool}", strings.ToLower(spec.PoolID)).Replace(name)
	}
	return ""
}

// Start queues a capacity increase of the node's scale set by one. It does
// no I/O: the scale set's goroutine sends the increases queued within
// BatchWindow as one update. spec.NodeID is the placeholder the node is
// known by until it registers under its VM's computer name.
func (p *Provider) Start(ctx context.Context, spec scaler.NodeSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := p.ScaleSetName(spec)
	if name == "" {
		return fmt.Errorf("%w %s (vmSize %q, dedicated %t)", ErrNoScaleSet, spec.PoolID, spec.VMSize, spec.Dedicated)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrClosed
	case p.starts[spec.NodeID] != nil:
		return fmt.Errorf("azure-vmss provider: node %s is already starting", spec.NodeID)
	}
	s := p.scaleSet(name)
	st := &start{id: spec.NodeID, set: s}
	p.starts[st.id] = st
	s.queued = append(s.queued, st)
	s.kickOps()
	p.log.InfoContext(ctx, "node start queued", "node_id", st.id, "scale_set", name)
	return nil
}

// Stop deletes the node's instance. For a placeholder it cancels the
// queued increase, or deletes the instance that came (or the next one to
// come) for it. It does not wait; unknown nodes are no error.
func (p *Provider) Stop(_ context.Context, nodeID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.starts[nodeID]; st != nil {
		if st.cancelled || st.failed {
			return nil
		}
		st.cancelled = true
		s := st.set
		switch {
		case !st.sent:
			s.queued = deleteStart(s.queued, st)
			delete(p.starts, nodeID)
		case st.instance != "":
			s.deletes[st.instance] = true
			s.kickOps()
		}
		p.log.Info("node start cancelled", "node_id", nodeID, "scale_set", s.name, "instance_id", st.instance)
		return nil
	}
	for _, s := range p.scaleSets {
		if id, ok := s.byNode[nodeID]; ok {
			s.deletes[id] = true
			s.kickOps()
			p.log.Info("node delete queued", "node_id", nodeID, "scale_set", s.name, "instance_id", id)
			return nil
		}
		if _, ok := s.adopted[nodeID]; ok {
			s.deleteNodes[nodeID] = p.cfg.Now()
			s.kickRefresh()
			return nil
		}
	}
	return nil
}

// Alive reports whether the node's VM exists, as of the last listing: for
// a placeholder, whether its VM may still come (its increase is queued or
// accepted and was not cancelled) or came and still exists.
func (p *Provider) Alive(nodeID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.starts[nodeID]; st != nil {
		switch {
		case st.failed:
			return false
		case st.instance != "":
			_, ok := st.set.instances[st.instance]
			return ok
		}
		return !st.cancelled
	}
	for _, s := range p.scaleSets {
		if _, ok := s.byNode[nodeID]; ok {
			return true
		}
		if at, ok := s.adopted[nodeID]; ok && !s.listedAt.After(at) {
			return true // adopted after the last listing: not contradicted yet
		}
	}
	return false
}

// Adopt tells the provider that the node started as pendingID registered
// as nodeID (its VM's computer name). It reports false when pendingID is
// not a start of this provider.
func (p *Provider) Adopt(pendingID, nodeID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.starts[pendingID]
	if st == nil || st.cancelled || st.failed {
		return false
	}
	s := st.set
	delete(p.starts, pendingID)
	s.unbound = deleteStart(s.unbound, st)
	if inst, ok := s.byNode[nodeID]; ok && st.instance != inst {
		// The VMs registered in another order than they were listed: the
		// start bound to nodeID's instance takes this one's.
		for _, other := range p.starts {
			if other.set == s && other.instance == inst {
				other.instance = st.instance
				if other.instance == "" {
					s.unbound = append([]*start{other}, s.unbound...)
				}
			}
		}
	}
	s.adopted[nodeID] = p.cfg.Now()
	p.log.Info("node registered", "placeholder", pendingID, "node_id", nodeID, "scale_set", s.name)
	return true
}

// Close stops the scale sets' goroutines and waits for them; operations
// in flight are abandoned (Azure carries them out). VMs are left running:
// a restarted scaler lists them and finds their nodes registered. Start
// fails after Close.
func (p *Provider) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }() // ends once every goroutine has
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func deleteStart(list []*start, st *start) []*start {
	for i, x := range list {
		if x == st {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}
