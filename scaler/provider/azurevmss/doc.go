// Package azurevmss is the scaler's provider of compute nodes on Azure: each
// node is a VM of an Azure virtual machine scale set (Uniform orchestration),
// driven through Azure Resource Manager with armcompute.
//
//	scaler ──Start──▶ queue ──(one PATCH sku.capacity += n per BatchWindow)──▶ scale set
//	       ──Stop───▶ queue ──(one POST …/delete {"instanceIds": [...]})──────▶ scale set
//	       ──Alive──▶ cache ◀──(GET …/virtualMachines, at most every RefreshInterval)
//
// # Scale sets
//
// A pool is served by the scale set that Config.ScaleSets picks by the
// pool's vmSize (the first rule whose glob matches; a rule without a vmSize
// matches every pool): its Name for dedicated nodes, its SpotName (a scale
// set created with priority Spot) for low-priority nodes. Names are
// templates: {account} and {pool} are replaced by the account name and the
// pool id (lower case), so one rule can give every pool its own scale set.
// The scale sets must exist (deployments/azure explains how to create them);
// the provider only changes their capacity and deletes their instances.
//
// # Node ids
//
// A node's id is its VM's computer name in lower case
// (properties.osProfile.computerName, e.g. "natchp00000a" for the instance
// with computerNamePrefix "natchp" and instance id 10). The cloud-init of
// deployments/azure reads the same name from the instance metadata service
// and passes it to `natch worker --node-id`. Azure, not the scaler, names
// VMs, so a start is known to the scaler by a placeholder id until the VM's
// worker registers: the scaler then calls Adopt(placeholder, nodeID) and
// the provider forgets the placeholder. A placeholder is Alive while its
// capacity request is queued or accepted; a failed request makes it dead,
// and the scaler replaces it.
//
// # Starting and stopping
//
// Start does no I/O: it queues the start. Each scale set has one goroutine
// that, after BatchWindow, reads the current capacity and raises it by the
// number of queued starts in one update, then polls the long-running
// operation (Azure-AsyncOperation) until it is done. Stop never lowers the
// capacity blindly: it deletes the node's own instance
// (virtualMachineScaleSets/delete with its instance id), several at once
// when several are queued. Stopping a placeholder whose VM has not yet
// registered deletes the instance that came for it, or, if none came yet,
// the next new instance. Deleting a VM shuts it down: systemd gives
// `natch worker` its stop timeout, and the scaler has already set the
// node's record to leavingpool, so its tasks are requeued.
//
// # Alive
//
// Alive answers from a cache of the scale set's instances, listed every
// RefreshInterval and after every operation (but never twice within
// MinRefreshGap), never per call. An
// adopted node not listed yet counts as alive until a listing taken after
// its adoption says otherwise.
//
// Throttling (429 with Retry-After) and transient errors are retried by the
// Azure SDK's retry policy. This provider is tested against a fake Resource
// Manager (an httptest TLS server that checks every request), not against
// Azure itself.
package azurevmss
