// Package batch is natch's API model: the Azure Batch data-plane JSON shapes
// (api-version 2022-10-01.16.0), their validation, the time and duration
// encodings Azure uses, and the API error type that renders as Azure's
// BatchError body. Every component speaks these types; the dispatcher stores
// them in JetStream KV and the REST and NATS APIs send them as they are.
package batch

// APIVersion is the Azure Batch REST api-version that natch implements.
const APIVersion = "2022-10-01.16.0"
