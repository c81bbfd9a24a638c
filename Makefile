# Event Thingy Store: the only entry points. `make run` serves the shop, `make test` runs every suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
export PYO3_PYTHON := $(abspath $(PY))
CARGO       ?= cargo
EXT         := shop/_core.abi3.so
RUST_SRC    := Cargo.toml core_rs/build.rs $(shell find core_rs/src -name "*.rs") $(wildcard proto/*.proto)
PROTO_PY    := $(patsubst proto/%.proto,shop/_proto/%_pb2.py,$(wildcard proto/*.proto))
KAFKA       := ops/kafka/kafka.sh
KAFKA_JARS  := ops/kafka/lib/.complete
ZIPKIN      := ops/zipkin/zipkin.sh
ZIPKIN_JAR  := ops/zipkin/lib/.complete
MAILPIT     := ops/mailpit/mailpit.sh
MAILPIT_BIN := ops/mailpit/bin/mailpit
MAILPIT_MOD := github.com/axllent/mailpit@v1.33.1
MASTER_KEY  := data/master.key
PY_DIRS     := shop tests fixtures $(wildcard bench)
WEB_DEPS    := web/node_modules/.installed
WEB_SRC     := $(wildcard web/*.html web/*.ts web/*.json web/src/*.ts web/src/*.css web/public/* web/scripts/*) shop/api/openapi.py
STOREFRONT  := shop/static/index.html
WEB_ENV     := PYTHON=$(abspath $(PY))
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2
SUDO        := $(if $(filter 0,$(shell id -u)),,sudo)
WRK         := /usr/bin/wrk

.PHONY: help run serve test test-rust test-py test-web lighthouse chromium fuzz lint fmt build kafka-up kafka-down mail-up mail-down tracing tracing-down bench profile soak wheel clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	@# the dependencies and dev tools of pyproject.toml; the package itself is built by maturin below
	$(PY) -m pip install -q $$($(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  print(" ".join(p["dependencies"] + p["optional-dependencies"]["dev"]))')
	touch $@

shop/_proto/%_pb2.py: proto/%.proto $(VENV)/.installed
	@mkdir -p shop/_proto
	@touch shop/_proto/__init__.py
	$(PY) -m grpc_tools.protoc -Iproto --python_out=shop/_proto --pyi_out=shop/_proto $<
	@# generated modules import their siblings as top-level modules; make them package-relative
	sed -i -E 's/^import ([a-z_]+_pb2) as/from . import \1 as/' $@

$(EXT): $(RUST_SRC) $(VENV)/.installed
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet
	@touch $@

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

# The storefront is built into the package (shop/static), so `shop serve` and the wheel carry it.
$(STOREFRONT): $(WEB_SRC) $(WEB_DEPS) $(EXT)  # the spec's module imports shop, hence _core
	cd web && $(WEB_ENV) npm run build
	@touch $@

build: $(EXT) $(PROTO_PY) $(STOREFRONT) ## build the Rust extension, the protobuf modules, the storefront and the bytecode
	@# Where PYTHONDONTWRITEBYTECODE is set (as on this machine) nothing writes it on import: every
	@# start of the shop compiled its modules again, 60-80 ms (bench/results/snapshot-start-2026-12-06.md).
	$(PY) -m compileall -q shop

chromium: ## Debian's chromium for the browser tests (apt-get, only when missing)
	@command -v chromium >/dev/null || { \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || { \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; }

$(KAFKA_JARS): ops/kafka/pom.xml
	cd ops/kafka && mvn -q dependency:copy-dependencies -DoutputDirectory=lib
	touch $@

kafka-up: $(KAFKA_JARS) ## start the local Kafka (unless SHOP_KAFKA_BOOTSTRAP is set)
	@if [ -n "$$SHOP_KAFKA_BOOTSTRAP" ]; then echo "using Kafka at $$SHOP_KAFKA_BOOTSTRAP"; else $(KAFKA) start; fi

kafka-down: ## stop the local Kafka
	$(KAFKA) stop

# Mailpit (the local SMTP server with a web UI) built from the Go module proxy, once.
$(MAILPIT_BIN):
	GOBIN=$(abspath ops/mailpit/bin) go install $(MAILPIT_MOD)

mail-up: $(MAILPIT_BIN) ## start the local Mailpit (SMTP on 1025, UI at http://127.0.0.1:8025/)
	$(MAILPIT) start

mail-down: ## stop the local Mailpit
	$(MAILPIT) stop

# The master key that wraps every shopper's key: made once, never over an existing one.
$(MASTER_KEY):
	@mkdir -p $(dir $@)
	umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' > $@

$(ZIPKIN_JAR): ops/zipkin/pom.xml
	cd ops/zipkin && mvn -q dependency:copy-dependencies -DoutputDirectory=lib
	touch $@

tracing: $(ZIPKIN_JAR) ## start the local Zipkin (UI at http://127.0.0.1:9411/zipkin/); `make run` then traces every request to it
	$(ZIPKIN) start

tracing-down: ## stop the local Zipkin
	$(ZIPKIN) stop

run: build kafka-up mail-up $(MASTER_KEY) ## install what is missing, start Kafka and Mailpit, load sample data if empty, serve on :8000 (traced if `make tracing` runs)
	@# every request is traced to the local Zipkin while it runs, unless SHOP_TRACE_RATIO says otherwise
	SHOP_KAFKA_BOOTSTRAP=$${SHOP_KAFKA_BOOTSTRAP:-127.0.0.1:9092} \
	  SHOP_TRACE_RATIO=$${SHOP_TRACE_RATIO:-$$($(ZIPKIN) status >/dev/null 2>&1 && echo 1 || echo 0)} \
	  SHOP_TRACE_ENDPOINT=$${SHOP_TRACE_ENDPOINT:-http://127.0.0.1:$${ZIPKIN_PORT:-9411}/api/v2/spans} $(VENV)/bin/shop run

lint: build ## ruff, rustfmt, clippy, mypy
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets --no-default-features -- -D warnings
	$(VENV)/bin/mypy $(PY_DIRS)
	$(PY) -m mypy.stubtest shop._core
	cd web && $(WEB_ENV) npm run typecheck && npm run lint

fmt: $(VENV)/.installed $(WEB_DEPS) ## format Python, Rust and TypeScript
	$(VENV)/bin/ruff format $(PY_DIRS)
	$(VENV)/bin/ruff check --fix $(PY_DIRS)
	$(CARGO) fmt
	cd web && npx biome check --write src e2e scripts

test-rust: $(VENV)/.installed ## cargo test
	$(CARGO) test --profile test-fast --no-default-features

.PHONY: test-loom
test-loom: $(VENV)/.installed ## model-check the swap and the offset signal with loom
	@# a feature, not RUSTFLAGS: only this crate is rebuilt, on test-rust's dependencies
	$(CARGO) test --profile test-fast --no-default-features --features loom --lib loom

test-web: $(WEB_DEPS) ## vitest: the storefront's state logic
	cd web && npm test

# Two workers, each with its own broker, a whole file at a time (files share a shop process): most
# tests wait on a broker or a restart, so the suite takes about 60% of its time on one worker.
test-py: build $(KAFKA_JARS) $(ZIPKIN_JAR) $(MAILPIT_BIN) chromium ## pytest (starts its own broker on free ports; drives chromium)
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

fuzz: build $(KAFKA_JARS) ## a long fuzz run: tests/test_fuzz.py and tests/test_hostile_inputs.py with many more examples (about 7 minutes)
	SHOP_FUZZ_EXAMPLES=$${SHOP_FUZZ_EXAMPLES:-3500} $(VENV)/bin/pytest tests/test_fuzz.py tests/test_hostile_inputs.py -q --timeout 1200

lighthouse: build $(KAFKA_JARS) chromium ## Lighthouse on the catalog, a product, the cart and an order, desktop and mobile (>= 95, CLS <= 0.05)
	$(VENV)/bin/pytest tests/test_storefront_e2e.py -m lighthouse -q

test: lint test-rust test-loom test-web lighthouse test-py ## every suite: lint, Rust (tests and loom), vitest, Lighthouse, Python (unit, property, integration on a real broker, browser)

$(WRK):
	@# Debian's wrk, the HTTP load generator of the benchmarks
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk || \
	  { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }

bench: build $(KAFKA_JARS) $(WRK) ## every benchmark (under 30 min) into bench/results/latest.{json,md}; BENCH_QUICK=1 for a short run
	$(PY) -m bench

# pytest-benchmark keeps its runs under a folder per machine kind (Linux-CPython-3.11-64bit), which
# does not tell CPU models apart, and these machines' hosts change between them (AMD EPYC, Intel
# Xeon): a baseline is kept per CPU model, and a run compares only with its own model's.
MICRO_CPU      := $(shell sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 | tr -cs 'A-Za-z0-9' '-' | sed 's/-*$$//')
MICRO_BASELINE := bench/results/micro/$(or $(MICRO_CPU),unknown-cpu)
MICRO_ARGS     := -p no:cacheprovider -q --benchmark-storage=file://$(MICRO_BASELINE) --benchmark-columns=min,median,max,rounds
MICRO_COMPARE  := $(if $(wildcard $(MICRO_BASELINE)),--benchmark-compare --benchmark-compare-fail=median:30%)

.PHONY: bench-micro
bench-micro: build ## pytest-benchmark of the Rust core's hot calls against this CPU model's saved baseline (BENCH_MICRO_SAVE=1 saves a new one)
	$(if $(BENCH_MICRO_SAVE)$(MICRO_COMPARE),,@echo "no baseline for this CPU model ($(MICRO_CPU)) in $(MICRO_BASELINE): nothing to compare with; BENCH_MICRO_SAVE=1 saves one")
	$(VENV)/bin/pytest bench/micro.py $(MICRO_ARGS) $(if $(BENCH_MICRO_SAVE),--benchmark-save=baseline,$(MICRO_COMPARE))

profile: build $(KAFKA_JARS) $(WRK) ## py-spy flame graphs of the shop under wrk load into bench/results/
	$(PY) -m bench.profile

soak: build $(KAFKA_JARS) $(WRK) ## an hour-long mixed load with resource sampling (SOAK_MINUTES=60) into bench/results/soak.{json,md}
	$(PY) -m bench.soak

wheel: $(PROTO_PY) $(STOREFRONT) ## a manylinux abi3 wheel in dist/ (with the storefront)
	$(VENV)/bin/maturin build --release --out dist

clean: ## remove build output (keeps the venv and Kafka data)
	$(CARGO) clean
	rm -rf shop/_proto $(EXT) dist shop/static web/src/generated
