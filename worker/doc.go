// Package worker is natch's node agent: one compute node of a pool. It
// registers the node in the nodes bucket and heartbeats it, pulls ready tasks
// from its pool's consumer (never more than it has free task slots), runs
// each in its own task directory through a Runner, keeps the task message
// alive with progress acks while the process runs, reports events, and
// serves the node's files and commands over NATS request/reply.
//
//	NATCH_TASKS ──pull (1 per free slot)──▶ worker ──Runner──▶ process in
//	  pool consumer                           │                RootDir/workitems/<job>/job-1/<task>/wd
//	                                          │ InProgress every AckWait/3
//	                                          ├─ "running"   (async, only if the process outlives RunningReportDelay)
//	                                          ├─ "completed" (batched with other completions, report.go;
//	                                          │               waits for its batch's PubAck) ──▶ then Ack
//	                                          └─ "requeued"  (shutdown / node removed) ──▶ then Nak
//	natch-nodes KV ◀── node record (CAS; heartbeat + coalesced state changes)
//	natch.node.<account>.<node>.* ◀── terminate, jobrelease, file.stat, file.read, file.list
//	natch.pooldrop.<account>.<pool> ◀── DropQueued: queued tasks whose job or task ended (drop.go)
//
// Before it fetches, the node runs the pool's start task (starttask.go);
// before the first task of a job with a preparation task, that task
// (jobprep.go), once per job and node; when the job ends, the dispatcher asks
// the node to run the job's release task (the jobrelease command).
//
// Vocabulary:
//   - slot: one unit of the node's task concurrency (the pool's
//     taskSlotsPerNode); a task takes requiredSlots of them.
//   - attempt: one run of a task; retries after a non-zero exit get a new
//     attempt number from the dispatcher.
//   - delivery: the JetStream delivery count of a task message; a requeue
//     (shutdown, lost node) redelivers the same attempt.
//   - requeue: the worker gives a task back without it counting as a retry
//     (Nak plus a "requeued" event).
//   - staging: a task with resource or output files is staged by
//     worker/stage before its process starts (through the node's blob
//     cache) and its outputs uploaded after it ends, before "completed".
//   - retention: how long a finished task's directory stays on the node;
//     the deadline goes into a journal (RetentionDir) and a janitor removes
//     expired directories, also across worker restarts.
package worker
