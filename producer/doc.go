// Package producer is the submit side of natch: Go clients for natch's API
// and the fast path that publishes tasks straight to JetStream.
//
// Two clients offer the same operations on pools, nodes, jobs and tasks:
//
//   - Client speaks the REST API, which is Azure Batch's data-plane API
//     (api-version 2022-10-01.16.0): the same paths, JSON bodies, status codes
//     and SharedKey request signing as the official SDKs. It works against
//     natch and, for the operations natch implements, against Azure Batch.
//   - NATSClient speaks the same API over NATS request/reply
//     (natch.api.<account>.<op>), for programs that already hold a NATS
//     connection, and adds SubmitTasks.
//
// Adding tasks, from the slowest and simplest to the fastest:
//
//	AddTask      one request per task, answered when the task is stored
//	AddTasks     addtaskcollection: chunks of ≤100 tasks (< 1 MB) sent in
//	             parallel, one TaskAddResult per task
//	SubmitTasks  async JetStream publishes to natch.submit.<account>.<job>
//	             (Nats-Msg-Id = task id); the stream's ack is the acceptance,
//	             refusals arrive later through SubmitErrors
//
//	client ──REST (SharedKey)──────────────┐
//	client ──NATS natch.api.<acct>.<op>────┤──> dispatcher ──> tasks stream ──> workers
//	client ──JetStream natch.submit.…──────┘    (validates, stores, schedules)
//
// Errors the service reports come back as *batch.Error, with Azure's code,
// the first line of its message and its detail values; compare them with
// errors.Is against the sentinels of package batch (batch.ErrJobNotFound…).
package producer
