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

.PHONY: check tools fmt-check vet lint test fuzz example bench demo-local

## check: everything CI runs — format, vet, staticcheck, race tests (with moto), a short fuzz run, the example.
check: tools fmt-check vet lint test fuzz example
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

## bench: the benchmarks of every package, with allocations (BENCHCOUNT runs each, for benchstat).
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) -benchtime=$(BENCHTIME) -cpu=1 ./remediate/... ./wizpayload/... ./eligibility/... ./audit/... ./internal/...
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) -benchtime=$(BENCHTIME) ./crossaccount/...

## demo-local: decide and audit the bundled sample findings, no AWS needed.
demo-local:
	$(GO) run ./examples/local
