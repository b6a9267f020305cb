# natch — make help lists the targets.
GO       ?= go
BIN      := bin/natch
DATA_DIR ?= natch-data
PKGS     := ./...

# encoding/json on its v2 engine (Go 1.25+, GOEXPERIMENT=jsonv2): the same
# API and output, decoding about twice as fast and encoding a little faster,
# in natch and in the NATS client and server it embeds (PubAcks, pull
# requests). The whole test suite passes both ways; a toolchain that does
# not know the experiment builds without it. Override with GOEXPERIMENT=.
GOEXPERIMENT ?= $(shell GOEXPERIMENT=jsonv2 $(GO) env GOEXPERIMENT >/dev/null 2>&1 && echo jsonv2)
export GOEXPERIMENT

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_\/-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/natch
	$(GO) build -o $(BIN) ./cmd/natch

.PHONY: run
run: build ## Build and start natch up (everything embedded) in ./natch-data
	./$(BIN) up --data-dir $(DATA_DIR)

.PHONY: test-deps
test-deps: ## Install what the tests use (Azure Batch SDK, Azurite, playwright-core, Chromium); fast when present
	scripts/test-deps.sh

.PHONY: test
test: test-deps ## Run every test with the race detector
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

.PHONY: bench
bench: build ## Run the benchmarks in bench/ and print the ratios (see docs/benchmarks.md)
	$(GO) run ./bench -natch $(BIN)

.PHONY: cover
cover: ## Test with coverage, report in cover.html
	$(GO) test -count=1 -coverprofile=cover.out $(PKGS) && $(GO) tool cover -html=cover.out -o cover.html

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: ## Vet the code (and golangci-lint when installed)
	$(GO) vet $(PKGS)
	@command -v golangci-lint >/dev/null && golangci-lint run || true

.PHONY: tidy
tidy: ## Tidy go.mod
	$(GO) mod tidy

.PHONY: clean
clean: ## Remove build output (keeps natch-data)
	rm -rf bin cover.out cover.html
