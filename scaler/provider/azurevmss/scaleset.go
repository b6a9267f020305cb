package azurevmss

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
)

// scaleSet is what the provider knows of one scale set. Its fields are
// guarded by Provider.mu.
type scaleSet struct {
	name   string
	listMu sync.Mutex    // serialises listings; not guarded by Provider.mu
	ops    chan struct{} // kicks the operations goroutine
	list   chan struct{} // kicks the listing goroutine

	queued      []*start             // starts whose increase is not sent yet
	unbound     []*start             // sent starts no instance came for yet, oldest first
	deletes     map[string]bool      // instance ids to delete
	deleting    map[string]bool      // instance ids whose deletion was sent
	deleteNodes map[string]time.Time // adopted, unlisted nodes to delete once listed, by node id
	adopted     map[string]time.Time // registered nodes by node id: when they registered

	instances map[string]instance // the last listing, by instance id
	byNode    map[string]string   // node id → instance id, of the last listing
	seen      map[string]bool     // every instance id ever listed
	listedAt  time.Time           // when the last listing began; zero: never listed
}

// instance is a VM of a scale set, as listed.
type instance struct {
	id, nodeID, state string
}

// scaleSet returns the state of a scale set, creating it and starting its
// goroutines. Called with mu held.
func (p *Provider) scaleSet(name string) *scaleSet {
	s := p.scaleSets[name]
	if s != nil {
		return s
	}
	s = &scaleSet{name: name, ops: make(chan struct{}, 1), list: make(chan struct{}, 1),
		deletes: map[string]bool{}, deleting: map[string]bool{}, deleteNodes: map[string]time.Time{},
		adopted: map[string]time.Time{}, instances: map[string]instance{}, byNode: map[string]string{},
		seen: map[string]bool{}}
	p.scaleSets[name] = s
	p.wg.Go(func() { p.listLoop(s) })
	p.wg.Go(func() { p.opsLoop(s) })
	return s
}

func (s *scaleSet) kickOps() {
	select {
	case s.ops <- struct{}{}:
	default:
	}
}

func (s *scaleSet) kickRefresh() {
	select {
	case s.list <- struct{}{}:
	default:
	}
}

// NodeID is the node id of a VM of a scale set: its computer name in lower
// case, the name the cloud-init reads from the instance metadata service.
// A VM without an OS profile in the listing gets its resource name with
// anything but letters, digits, '-' and '_' replaced by '-'.
func NodeID(vm *armcompute.VirtualMachineScaleSetVM) string {
	if vm.Properties != nil && vm.Properties.OSProfile != nil && vm.Properties.OSProfile.ComputerName != nil {
		return strings.ToLower(*vm.Properties.OSProfile.ComputerName)
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, strings.ToLower(deref(vm.Name)))
}

// listLoop lists the scale set's instances every RefreshInterval and when
// kicked, until the provider closes.
func (p *Provider) listLoop(s *scaleSet) {
	t := time.NewTicker(p.cfg.RefreshInterval)
	defer t.Stop()
	for {
		p.refresh(s)
		select { // at most one listing per MinRefreshGap
		case <-p.ctx.Done():
			return
		case <-time.After(p.cfg.MinRefreshGap):
		}
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		case <-s.list:
		}
	}
}

// refresh lists the scale set's instances and folds them into the cache:
// new instances are bound to the oldest sent starts (and deleted if that
// start was cancelled meanwhile).
func (p *Provider) refresh(s *scaleSet) {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	began := p.cfg.Now()
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
	defer cancel()
	var vms []instance
	pager := p.vms.NewListPager(p.cfg.ResourceGroup, s.name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if p.ctx.Err() == nil {
				p.log.Warn("list scale set instances", "scale_set", s.name, "err", err)
			}
			return
		}
		for _, vm := range page.Value {
			if vm == nil || vm.InstanceID == nil {
				continue
			}
			in := instance{id: *vm.InstanceID, nodeID: NodeID(vm)}
			if vm.Properties != nil {
				in.state = deref(vm.Properties.ProvisioningState)
			}
			vms = append(vms, in)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	first := s.listedAt.IsZero()
	s.instances, s.byNode, s.listedAt = make(map[string]instance, len(vms)), make(map[string]string, len(vms)), began
	kick := false
	for _, in := range vms {
		s.instances[in.id], s.byNode[in.nodeID] = in, in.id
		if s.seen[in.id] {
			continue
		}
		s.seen[in.id] = true
		if _, ok := s.adopted[in.nodeID]; first || ok || len(s.unbound) == 0 {
			continue // there before us, or already registered
		}
		st := s.unbound[0]
		s.unbound = s.unbound[1:]
		st.instance = in.id
		if st.cancelled {
			s.deletes[in.id], kick = true, true
		}
	}
	for id, at := range s.adopted {
		if _, ok := s.byNode[id]; ok || at.Before(began) {
			delete(s.adopted, id) // listed (byNode answers now), or gone
		}
	}
	for id, at := range s.deleteNodes {
		if inst, ok := s.byNode[id]; ok {
			s.deletes[inst], kick = true, true
			delete(s.deleteNodes, id)
		} else if at.Before(began) {
			delete(s.deleteNodes, id)
		}
	}
	for id := range s.deleting {
		if _, ok := s.instances[id]; !ok {
			delete(s.deleting, id)
		}
	}
	if kick {
		s.kickOps()
	}
}

// opsLoop carries out the scale set's queued deletions and capacity
// increases, one operation at a time, each gathering what was queued
// within BatchWindow.
func (p *Provider) opsLoop(s *scaleSet) {
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-s.ops:
		}
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(p.cfg.BatchWindow):
		}
		p.deleteQueued(s)
		p.increaseQueued(s)
	}
}

// deleteQueued deletes the queued instances in one request.
func (p *Provider) deleteQueued(s *scaleSet) {
	p.mu.Lock()
	ids := make([]string, 0, len(s.deletes))
	for id := range s.deletes {
		if !s.deleting[id] {
			ids = append(ids, id)
			s.deleting[id] = true
		}
	}
	clear(s.deletes)
	p.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
	defer cancel()
	err := p.deleteInstances(ctx, s.name, ids)
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Error("delete scale set instances", "scale_set", s.name, "instance_ids", ids, "err", err)
		}
		p.mu.Lock()
		for _, id := range ids {
			delete(s.deleting, id) // the next Stop or binding queues it again
		}
		p.mu.Unlock()
	} else {
		p.log.Info("scale set instances deleted", "scale_set", s.name, "instance_ids", ids)
	}
	s.kickRefresh()
}

func (p *Provider) deleteInstances(ctx context.Context, name string, ids []string) error {
	poller, err := p.sets.BeginDeleteInstances(ctx, p.cfg.ResourceGroup, name,
		armcompute.VirtualMachineScaleSetVMInstanceRequiredIDs{InstanceIDs: to.SliceOfPtrs(ids...)}, nil)
	if err != nil {
		return err
	}
	_, err = poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: p.cfg.PollFrequency})
	return err
}

// increaseQueued raises the capacity by the number of queued starts in one
// update. A failed update fails its starts: they are not Alive, and the
// scaler replaces them (with its backoff).
func (p *Provider) increaseQueued(s *scaleSet) {
	p.mu.Lock()
	listed := !s.listedAt.IsZero()
	p.mu.Unlock()
	if !listed {
		p.refresh(s) // know what was there before: new instances are ours
	}
	p.mu.Lock()
	batch := s.queued
	s.queued = nil
	for _, st := range batch {
		st.sent = true
	}
	s.unbound = append(s.unbound, batch...)
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OpTimeout)
	defer cancel()
	capacity, err := p.increase(ctx, s.name, len(batch))
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Error("raise scale set capacity", "scale_set", s.name, "by", len(batch), "err", err)
		}
		p.mu.Lock()
		for _, st := range batch {
			if st.instance == "" {
				st.failed = true
				s.unbound = deleteStart(s.unbound, st)
			}
		}
		p.mu.Unlock()
	} else {
		p.log.Info("scale set capacity raised", "scale_set", s.name, "by", len(batch), "capacity", capacity)
	}
	s.kickRefresh()
}

// increase reads the scale set's capacity and raises it by n, waiting for
// the update to complete.
func (p *Provider) increase(ctx context.Context, name string, n int) (int64, error) {
	got, err := p.sets.Get(ctx, p.cfg.ResourceGroup, name, nil)
	if err != nil {
		return 0, fmt.Errorf("get scale set: %w", err)
	}
	var capacity int64
	if got.SKU != nil && got.SKU.Capacity != nil {
		capacity = *got.SKU.Capacity
	}
	capacity += int64(n)
	poller, err := p.sets.BeginUpdate(ctx, p.cfg.ResourceGroup, name,
		armcompute.VirtualMachineScaleSetUpdate{SKU: &armcompute.SKU{Capacity: to.Ptr(capacity)}}, nil)
	if err != nil {
		return 0, fmt.Errorf("update capacity: %w", err)
	}
	if _, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: p.cfg.PollFrequency}); err != nil {
		return 0, fmt.Errorf("update capacity: %w", err)
	}
	return capacity, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
