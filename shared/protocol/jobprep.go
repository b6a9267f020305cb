package protocol

import "github.com/natch-io/natch/shared/batch"

// CmdJobRelease asks a node to run a job's release task (body JobRelease).
// The node replies when the release task has ended (or at once when it
// never prepared the job); the reply is empty or an error text.
const CmdJobRelease = "jobrelease"

// JobRelease is the body of CmdJobRelease.
type JobRelease struct {
	JobID string `json:"jobId"`
	// Release is the job's release task; nil when the job has none (the node
	// then only forgets the job).
	Release *batch.JobReleaseTask `json:"release,omitempty"`
	// Preparation is the job's preparation task (its id names its
	// directory; its retentionTime applies from the release).
	Preparation *batch.JobPreparationTask `json:"preparation,omitempty"`
	// JobEnvironment is the job's commonEnvironmentSettings.
	JobEnvironment []batch.NameValue `json:"jobEnvironment,omitempty"`
}

// JobPrepStatus is one node's job preparation and release task state,
// stored by the worker in topology.JobPrepBucket under
// topology.JobPrepKey(account, job, node).
type JobPrepStatus struct {
	Account string `json:"account"`
	JobID   string `json:"jobId"`
	PoolID  string `json:"poolId"`
	NodeID  string `json:"nodeId"`
	// NodeURL is the node's URL (empty when the worker has no account URL).
	NodeURL string `json:"nodeUrl,omitempty"`
	// Preparation is the preparation task's state on the node.
	Preparation *batch.JobPreparationTaskExecutionInformation `json:"preparation,omitempty"`
	// Release is the release task's state on the node; nil until it runs.
	Release *batch.JobReleaseTaskExecutionInformation `json:"release,omitempty"`
}
