# clickwrap-rotator. `make help` lists the targets.
GO          ?= go
OUT         ?= bin
LAMBDA_ARCH ?= arm64
# How Lambda runs Go on provided.al2023: a static binary named bootstrap,
# without the legacy RPC mode, trimmed.
LAMBDA_FLAGS = -tags lambda.norpc -trimpath -ldflags "-s -w -buildid="
# npm ci's record of the Node consumer's installed packages (see test).
NODE_DEPS    = examples/node/node_modules/.package-lock.json

.PHONY: help build build-RotatorFunction rotatorctl test demo invoke bench faults vet clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-24s %s\n", $$1, $$2}'

build: ## build $(OUT)/bootstrap for linux/$(LAMBDA_ARCH), the Lambda artifact
	GOOS=linux GOARCH=$(LAMBDA_ARCH) CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(OUT)/bootstrap ./cmd/rotator

build-RotatorFunction: ## what `sam build` runs (BuildMethod: makefile): the bootstrap into $(ARTIFACTS_DIR)
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: sam build sets it" >&2; exit 2; }
	$(MAKE) build OUT="$(ARTIFACTS_DIR)"

rotatorctl: ## build $(OUT)/rotatorctl, the operator command (status, rotate, verify, unstick), for this machine
	$(GO) build -trimpath -o $(OUT)/rotatorctl ./cmd/rotatorctl

# demo and invoke build their program and exec it, so that a signal make
# passes on (SIGTERM) reaches the program, which then stops the emulator and
# the bootstrap and removes its working folder.
demo: ## two full rotations on the local stand-ins (Lambda runtime emulator, Secrets Manager emulator, Clickwrap sandbox), then what to do next
	@$(GO) build -o $(OUT)/demo ./internal/demo && exec $(OUT)/demo

invoke: ## EVENT=events/createSecret.json: send a hand-made event to the bootstrap on the local stand-ins, print its log and answer; PENDING=1: for a version RotateSecret made
	@test -n '$(EVENT)' || { echo 'usage: make invoke EVENT=events/createSecret.json [PENDING=1]   (events/ has one event per step)' >&2; exit 2; }
	@$(GO) build -o $(OUT)/invoke ./internal/invoke && exec $(OUT)/invoke $(if $(filter 1 true yes,$(PENDING)),--pending) '$(EVENT)'

bench: ## benchmarks on the local stand-ins (cold start, step latency, calls, memory, zero downtime): prints the table, writes docs/benchmarks.md
	$(GO) run ./internal/bench/report $(BENCHFLAGS)

faults: ## the fault-injection matrix: each fault a whole rotation under the runtime emulator; rewrites docs/faults.md
	$(GO) run ./internal/faults/report

vet: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...

test: vet $(NODE_DEPS) ## the whole suite with the race detector (end-to-end under the Lambda runtime emulator, the Go, Python and Node consumers included)
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# The Node consumer's SDK, as examples/node/package-lock.json pins it (from
# the npm registry alone), for the consumers test (examples/). Without npm,
# or with CONSUMERS_SKIP naming node, it is left out, and that test says so.
$(NODE_DEPS): examples/node/package.json examples/node/package-lock.json
	@case ",$$CONSUMERS_SKIP," in *,node,*|,1,|,all,|,true,|,yes,) exit 0;; esac; \
	if command -v npm >/dev/null 2>&1; then \
	  echo "npm ci --prefix examples/node"; npm ci --prefix examples/node --no-audit --no-fund && touch $@; \
	else \
	  echo "npm not found: the Node consumer test will fail (apt-get install nodejs npm, or CONSUMERS_SKIP=node)" >&2; \
	fi

clean: ## remove build output
	rm -rf $(OUT)
