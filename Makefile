# StoreMesh developer entry points. `make run` and `make test` are the whole set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
PROTO_SRC := $(shell find proto -name '*.proto')
# Processes `make test` and `make integration` run the tests in (pytest-xdist); 0 runs them
# in this one. Each worker is a PostgreSQL and NATS client of its own (and, where tests
# start containers, starts its own).
TEST_WORKERS ?= 2
ifeq ($(TEST_WORKERS),0)
PARALLEL :=
else
PARALLEL := -n $(TEST_WORKERS) --dist worksteal
endif
PROTO_STAMP := gen/.generated
TOOLS_STAMP := tools/node_modules/.installed

export PYTHONPATH := $(CURDIR):$(CURDIR)/gen
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all venv proto tools run test unit integration bench profile lint typecheck buf-lint \
	buf-breaking asyncapi asyncapi-check nats-config k8s-validate servers clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '.[dev]'
	printf '%s\n%s\n' "$(CURDIR)" "$(CURDIR)/gen" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/storemesh-dev.pth
	touch $@

proto: $(PROTO_STAMP)

$(PROTO_STAMP): $(STAMP) $(PROTO_SRC)
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iproto \
		--python_out=gen --mypy_out=gen --grpc_python_out=gen --mypy_grpc_out=gen \
		$(PROTO_SRC)
	find gen -type d -exec touch {}/__init__.py \;
	rm -f gen/__init__.py
	touch $@

servers: $(STAMP)
	$(PY) -m kernel.testing.servers ensure

run: proto
	$(PY) -m services

test: proto servers $(TOOLS_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(PARALLEL) tests

unit: proto $(TOOLS_STAMP)
	$(PY) -m pytest -q tests/unit

integration: proto servers
	$(PY) -m pytest -q $(PARALLEL) tests/integration

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet '.[bench]'
	touch $@

bench: proto servers $(BENCH_STAMP)
	$(PY) -m bench

# Where a stock command's CPU goes, by component (shares; see docs/profiles.md).
profile: proto servers
	$(PY) -m bench.profile_commands

lint: proto buf-lint buf-breaking asyncapi-check
	$(PY) -m deploy.nats --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy kernel services/inventory/domain services/workforce/domain services/capacity/domain \
		services/collab/domain services/analytics/domain
	$(BIN)/lint-imports
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_import_contracts.py

tools: $(TOOLS_STAMP)

# npm tools pinned by tools/package-lock.json: buf, and the AsyncAPI JSON Schemas.
$(TOOLS_STAMP): tools/package.json tools/package-lock.json
	npm install --silent --no-audit --no-fund --prefix tools >/dev/null
	touch $@

buf-lint: $(TOOLS_STAMP)
	cd proto && ../tools/node_modules/.bin/buf lint

# A wire-breaking change to proto/ against recent states of main fails (tools/buf-breaking.sh).
buf-breaking: $(TOOLS_STAMP)
	tools/buf-breaking.sh

# The partners' catalogue docs/asyncapi/*.yaml, generated from proto/ and validated.
asyncapi: $(STAMP) $(TOOLS_STAMP)
	$(PY) -m deploy.asyncapi

asyncapi-check: $(STAMP) $(TOOLS_STAMP)
	$(PY) -m deploy.asyncapi --check

# deploy/nats/accounts.conf (NATS users and permissions) from deploy/nats/partners.yaml.
nats-config: $(STAMP)
	$(PY) -m deploy.nats

k8s-validate: $(STAMP)
	$(PY) -m deploy.validate

clean:
	rm -rf $(VENV) gen var/test
