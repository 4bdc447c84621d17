# Remedy's build and test entry points. `make check` is what CI runs: it
# installs what the tests need (staticcheck, moto) and runs every test.

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
PYTHON      ?= python3
MOTO_VERSION := 5.2.1
FUZZTIME    ?= 30s
BENCHTIME   ?= 1s
BENCHCOUNT  ?= 6

export REMEDY_REQUIRE_MOTO ?= 1

.PHONY: check tools fmt-check mod-tidy vet lint test fuzz example bench demo-local cfn-lint demo bench-e2e bench-cpu lambda-zip soak soak-short custom

## check: everything CI runs — format, vet, staticcheck, race tests (with moto), a short fuzz run, the examples,
## and the short chaos soak.
check: tools fmt-check mod-tidy vet lint cfn-lint test fuzz example custom soak-short
	@echo "make check: all passed"

## tools: install staticcheck and moto server if they are missing.
tools:
	@test -x $(STATICCHECK) || { echo "installing staticcheck v0.8.2"; $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2; }
	@command -v moto_server >/dev/null 2>&1 || { \
		echo "installing moto[server]==$(MOTO_VERSION) (needs pip and PyPI)"; \
		$(PYTHON) -m pip install --quiet 'moto[server]==$(MOTO_VERSION)' || { echo "could not install moto: install it with pip install 'moto[server]==$(MOTO_VERSION)' and rerun make check"; exit 1; }; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run gofmt -w):"; echo "$$out"; exit 1; fi

## mod-tidy: go.mod and go.sum are what `go mod tidy` makes them (no direct dependency marked indirect).
mod-tidy:
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy and commit the result"; exit 1; }

vet:
	$(GO) vet ./...

lint: tools
	$(STATICCHECK) ./...

## test: all tests with the race detector; moto-backed tests start moto_server themselves.
test:
	$(GO) test -race -count=1 -timeout 20m ./...

## fuzz: a short run of the payload fuzzer (FUZZTIME=5m for a longer one).
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./wizpayload

## example: the embedded local example must run and decide every sample.
example:
	$(GO) run ./examples/local > /dev/null

## custom: examples/custom, a team's own module (its own go.mod) with a custom remediator: tidy, vet, staticcheck,
## and its tests — the conformance suite on moto, and its worker, Lambda (under the emulator) and CLI end to end.
custom: tools
	cd examples/custom && $(GO) mod tidy -diff && $(GO) vet ./... && $(STATICCHECK) ./... && $(GO) test -count=1 -timeout 10m ./...

## bench: the benchmarks of every package, with allocations (BENCHCOUNT runs each, for benchstat).
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) -benchtime=$(BENCHTIME) -cpu=1 . ./remediate/... ./wizpayload/... ./eligibility/... ./audit/... ./internal/... ./remediators/s3publicaccess
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) -benchtime=$(BENCHTIME) ./crossaccount/...

## demo-local: decide and audit the bundled sample findings, no AWS needed.
demo-local:
	$(GO) run ./examples/local

## cfn-lint: lint the reference deployment's CloudFormation templates (installs cfn-lint with pip if missing).
CFN_TEMPLATES := examples/lambda/template.yaml examples/lambda/customer-role.yaml examples/worker/ecs.yaml
cfn-lint:
	@command -v cfn-lint >/dev/null 2>&1 || { \
		echo "installing cfn-lint (needs pip and PyPI)"; \
		$(PYTHON) -m pip install --quiet cfn-lint || { echo "could not install cfn-lint: pip install cfn-lint, then rerun"; exit 1; }; }
	cfn-lint $(CFN_TEMPLATES)

## demo: the whole pipeline on moto — accounts, misconfigured resources, SNS → SQS → worker → fixes, audit trail.
demo: tools
	$(GO) run ./examples/demo

## bench-e2e: end-to-end numbers on moto: CPU per finding, AssumeRole calls, Lambda cold start, binary size, worker throughput and RSS,
## and throughput with 50 ms added to every AWS call (faultproxy).
## About 30 minutes, most of it moto serving 10,000 findings; REMEDY_BENCH_WORKER_FINDINGS=1000 for a quick run.
bench-e2e: tools
	$(GO) test -run='^$$' -bench=. -benchtime=1x -count=1 -timeout=60m -v ./e2e

## bench-cpu: the worker's CPU per remediated finding (500 findings over 10 accounts, both configurations), BENCHCOUNT
## runs (about a minute each) for a median and range: go run golang.org/x/perf/cmd/benchstat, or read the lines.
bench-cpu: tools
	$(GO) test -run='^$$' -bench=WorkerCPUPerFinding -benchtime=1x -count=$(BENCHCOUNT) -timeout=60m ./e2e

## soak: the chaos soak (e2e/soak): SOAK_FINDINGS findings (default 10,000, about 20 minutes) over 3 accounts and
## every built-in fix, through SNS, SQS and two worker processes, with faults on every AWS service and a worker
## killed at random moments; prints a summary and fails naming any broken invariant. SOAK_SEED repeats a run.
SOAK_FINDINGS ?= 10000
soak: tools
	SOAK_FINDINGS=$(SOAK_FINDINGS) $(GO) test -run='^TestSoak$$' -count=1 -timeout=150m -v ./e2e/soak

## soak-short: the soak at 300 findings with one kill (about a minute and a half from the first publish to the
## drained queue, plus building the worker and creating the resources); part of check.
soak-short: tools
	SOAK_FINDINGS=300 $(GO) test -run='^TestSoak$$' -count=1 -timeout=10m -v ./e2e/soak

## lambda-zip: build the Lambda function for provided.al2023 (arm64) into $(LAMBDA_BUILD)/function.zip.
LAMBDA_BUILD ?= $(or $(TMPDIR),/tmp)/remedy-lambda
lambda-zip:
	mkdir -p $(LAMBDA_BUILD)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(LAMBDA_BUILD)/bootstrap ./examples/lambda
	cp examples/lambda/policy.yaml examples/lambda/accounts.yaml $(LAMBDA_BUILD)/
	cd $(LAMBDA_BUILD) && rm -f function.zip && zip -q function.zip bootstrap policy.yaml accounts.yaml
	@ls -l $(LAMBDA_BUILD)/bootstrap $(LAMBDA_BUILD)/function.zip

## lambda-local: run the Lambda function under the Runtime Interface Emulator on 127.0.0.1:$(LAMBDA_PORT)
## (Ctrl-C stops it), configured by your REMEDY_* and AWS_* variables (see package deploy), with
## examples/lambda's policy.yaml and accounts.yaml. Invoke it from another shell with make lambda-invoke.
LAMBDA_PORT ?= 9000
RIE_MODULE  := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
lambda-local:
	@test -x $(GOBIN)/aws-lambda-rie || { echo "installing aws-lambda-rie"; $(GO) install $(RIE_MODULE); }
	mkdir -p $(LAMBDA_BUILD)/local
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -o $(LAMBDA_BUILD)/local/bootstrap ./examples/lambda
	cp examples/lambda/policy.yaml examples/lambda/accounts.yaml $(LAMBDA_BUILD)/local/
	@echo "function on http://127.0.0.1:$(LAMBDA_PORT)/2015-03-31/functions/function/invocations; make lambda-invoke [EVENT=testdata/sqs-event.json]"
	cd $(LAMBDA_BUILD)/local && LAMBDA_TASK_ROOT=$(LAMBDA_BUILD)/local $(GOBIN)/aws-lambda-rie \
		--runtime-interface-emulator-address 127.0.0.1:$(LAMBDA_PORT) ./bootstrap

## lambda-invoke: send EVENT (an SQS event JSON file, as Lambda's event source mapping delivers) to lambda-local.
EVENT ?= testdata/sqs-event.json
lambda-invoke:
	curl -sS -X POST --data-binary @$(EVENT) http://127.0.0.1:$(LAMBDA_PORT)/2015-03-31/functions/function/invocations; echo
