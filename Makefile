# StoreMesh developer entry points. `make run` and `make test` are the whole set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PROTO_SRC := $(shell find proto -name '*.proto')
PROTO_STAMP := gen/.generated

export PYTHONPATH := $(CURDIR):$(CURDIR)/gen
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all venv proto run test unit integration bench lint typecheck buf-lint k8s-validate servers clean

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

test: proto servers
	$(PY) -m pytest -q -p no:cacheprovider tests

unit: proto
	$(PY) -m pytest -q tests/unit

integration: proto servers
	$(PY) -m pytest -q tests/integration

bench: proto servers
	$(PY) -m bench

lint: proto buf-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy kernel services/inventory/domain services/workforce/domain services/capacity/domain services/analytics/domain

buf-lint:
	@if [ ! -x tools/node_modules/.bin/buf ]; then npm install --silent --no-audit --no-fund --prefix tools >/dev/null; fi
	cd proto && ../tools/node_modules/.bin/buf lint

k8s-validate: $(STAMP)
	$(PY) -m deploy.validate

clean:
	rm -rf $(VENV) gen var/test
