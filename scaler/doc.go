// Package scaler keeps every pool's compute nodes at the pool's targets.
//
//	natch-pools (KV) ──watch──┐          ┌──watch── natch-nodes (KV)
//	targets, state            ▼          ▼          heartbeats (workers)
//	                     ┌──────────────────────┐
//	     every Interval  │ Decide(pool, nodes)  │  pure: counts, ranks, timeouts
//	     and on changes  └──────────┬───────────┘
//	                                ▼ Plan
//	 Provider.Start/Stop    mark offline / leavingpool (CAS)    pool current counts,
//	 (local processes,      delete dead records                 allocationState (CAS),
//	  scale sets, …)                                            delete a deleting pool
//
// # Vocabulary
//
//   - target: the pool's targetDedicatedNodes / targetLowPriorityNodes, set by
//     the dispatcher (add, resize) or an autoscale formula.
//   - registered node: a node with a record in the nodes bucket, written and
//     heartbeated by its agent (natch worker).
//   - pending node: a node the provider started that has not registered yet.
//     Pending nodes live only in the scaler's memory.
//   - counted node: a registered node that is not leavingpool and not offline
//     with its process gone, or a pending node. Counted nodes are compared
//     with the targets.
//   - current: the counted registered nodes, written to the pool's
//     currentDedicatedNodes / currentLowPriorityNodes.
//
// # A round
//
// The scaler watches both buckets, so its view is in memory and a round reads
// nothing. Each round (every Interval, and at once when a pool changes or a
// node comes, goes or changes state) calls Decide for each pool and carries out
// the Plan:
//
//   - fewer counted nodes than the target: start nodes (ids tvmps_<hex>_d or
//     _p). A start that exits or does not register within StartTimeout is a
//     failed start: it is stopped and replaced, with a backoff that doubles
//     from Interval up to MaxStartBackoff.
//   - more: remove the least useful first: offline but alive, pending,
//     starting, idle, then running (fewest tasks first). A registered node is
//     removed by setting its record to leavingpool (its worker then requeues
//     its tasks and stops) and asking the provider to stop it (SIGTERM, then
//     SIGKILL after the provider's grace). The worker deletes its record as it
//     goes; the scaler deletes a leavingpool record whose process is gone or
//     whose heartbeat went stale.
//   - a node without a heartbeat for OfflineAfter is marked offline. It keeps
//     counting only while the provider says its process is alive (and for at
//     most StartTimeout more); otherwise a replacement is started. Offline
//     records are deleted after OfflineRetention.
//   - the pool's current counts and allocationState (resizing while nodes
//     start or leave or counts differ from targets, else steady) are written
//     by compare-and-set, with a new eTag and lastModified, only when they
//     change.
//   - a pool in state deleting: every node is removed; once none is left the
//     pool's consumer on NATCH_TASKS and then its record are deleted.
//   - a pool in allocationState stopping (stop resize): pending starts are
//     cancelled, no node is added or removed, the targets become the current
//     counts, a ResizeStopped resize error is recorded and the pool turns
//     steady.
//   - a manual resize still short of its targets after the pool's
//     resizeTimeout (default 15 minutes, measured from the pool's
//     allocationStateTransitionTime): pending starts are cancelled, an
//     AllocationTimedout resize error is recorded and the pool turns steady
//     below its targets; nothing is started until the next resize clears
//     resizeErrors. Autoscale pools have no resize timeout, as in Azure.
//
// Nodes whose pool record is gone are removed as for a deleting pool.
//
// # Preemption
//
// A low-priority node is preempted when its record says preempted (the
// dispatcher's preempt operation sets it) or its provider says it evicted
// it (a Preempter: the local provider's Preempt test hook, a spot VM's
// eviction). The scaler then sets the record to preempted if it is not
// yet, evicts a node whose process is still there (Preempter.Preempt,
// else Stop), and no longer counts it, so a replacement starts: the
// pool's target stays, as Azure's does. Its record is deleted after
// OfflineRetention. The worker, should it see its record preempted before
// it is killed, requeues its tasks and stops without deleting the record.
//
// # Providers
//
// A Provider starts, stops and watches nodes: provider/local runs them as
// child processes, provider/azurevmss as VMs of Azure scale sets. A Router
// picks the provider of each pool by its vmSize (globs, first match). A
// provider whose nodes name themselves (a VM registers under its computer
// name, not the id the scaler chose) is an Adopter: when a node the scaler
// has not seen registers and the pool has unregistered starts of its kind,
// the scaler offers the oldest, and forgets it once the provider accepts.
//
// # One scaler per account
//
// Before acting on an account's pools a scaler takes the account's lease: the
// key LeaseKey(account) ("scaler.<account>") in the KV bucket LeasesBucket
// ("natch-leases", created on first use with the replicas and storage of the
// pools bucket, entries expiring after LeaseTTL). The holder renews it every
// third of the TTL and deletes it when Run returns. Any other scaler finds
// the key taken and leaves the account alone, still watching, until the key
// is deleted or expires (a crashed holder's lease frees after LeaseTTL,
// 15s by default; a scaler restarted with the crashed one's Holder name
// takes it back at once). Several scalers may so run at once, each acting on
// the accounts whose lease it holds.
//
// A scaler that restarts forgets its pending nodes; nodes it started earlier
// and that still heartbeat count as registered nodes, and nodes whose
// processes died with the old scaler go offline and are replaced.
//
// # Autoscale
//
// For a pool with enableAutoScale the scaler samples the pool's numbers
// once per SamplePeriod: $ActiveTasks and $RunningTasks from the pool's
// consumer (pending and ack-pending messages), $PendingTasks their sum,
// $CurrentDedicatedNodes and $CurrentLowPriorityNodes from the pool record,
// and from the task counts the dispatcher keeps per job (counts bucket),
// summed over the pool's jobs (jobs bucket): $SucceededTasks and
// $FailedTasks (completed tasks of the pool's existing jobs, by result: a
// level, not a rate), and $ActiveTaskSlots, $RunningTaskSlots and
// $PendingTaskSlots (the requiredSlots of active, running and both tasks;
// active here includes tasks waiting for dependencies, and the counts lag
// by the dispatcher's CountsFlush). It evaluates the pool's formula
// (package formula) every autoScaleEvaluationInterval, writing the targets and autoScaleRun into the
// pool record. Samples are kept for SampleHistory in memory and published to
// the metrics stream (topology.MetricsStream, one subject per pool); when a
// scaler first sees an autoscale pool it reads that pool's last
// SampleHistory back from the stream, so a restart or a lease take-over
// loses no history.
//
// The samples also hold the pool's nodes: $UsableNodeCount (idle and
// running), $PreemptedNodeCount, and, from the metrics each worker keeps in
// its node record (protocol.NodeMetrics), the resource variables over the
// sampled nodes (starting, idle or running, with metrics at most
// OfflineAfter old; $SampleNodeCount of them): $CPUPercent their mean CPU
// percent, $MemoryBytes and $DiskBytes their mean use in MB and GB (Azure's
// documented units), $DiskReadBytes, $DiskWriteBytes, $DiskReadOps,
// $DiskWriteOps, $NetworkInBytes and $NetworkOutBytes the sum of each
// node's rate (between its last two measurements) times SamplePeriod, and
// $WallClockSeconds the sampled nodes times SamplePeriod. As in Azure they
// are pool-level samples: GetSample returns one value per sample time.
// ReadSamples and NewEnv give the dispatcher's evaluateautoscale dry run
// the same history and variables.
//
// Comparing a sample vector with a number ($PendingTasks.GetSample(1) > 0)
// fails the evaluation, as Azure's type rules say (comparisons take doubles;
// Azure's own examples write max($PendingTasks.GetSample(1))); the error
// message says so.
package scaler
