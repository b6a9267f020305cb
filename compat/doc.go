// Package compat is natch's Azure Batch SDK conformance suite: the official
// JavaScript SDK (@azure/batch 10.2.0, unmodified, pinned in package-lock.json)
// drives a real `natch up` through node's built-in test runner.
//
//	go test ./compat/
//	  ├─ go build ./cmd/natch
//	  ├─ natch up --data-dir <tmp> (free ports) ──> <tmp>/connection.json
//	  ├─ node --test *.test.mjs   with NATCH_URL, NATCH_ACCOUNT, NATCH_KEY
//	  └─ SIGINT natch up; no worker process may outlive it
//
// The scripts need compat/node_modules: run `(cd compat && npm ci)` once.
// README.md lists what the suite covers and what it does not cover yet.
package compat
