# Event Horizon: `make up` runs the platform locally, `make test` runs the whole suite.
# Both create .venv when it is missing and install the pinned packages first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SPEEDUPS := layers/core/python/_horizon_speedups.abi3.so
PORT   ?= 8000
CDK    := npx --yes aws-cdk@3.0.0
CDKLOCAL := npx --yes --package aws-cdk@3.0.0 --package aws-cdk-local@3.0.4 cdklocal

# jsii (the CDK's engine) warns on every start about the Node.js version; the warning says nothing
# about this project.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install system-packages up test lint unit integration infra synth bench deploy deploy-localstack deps-layer verify-arm64 clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	# The `horizon` command line into .venv/bin, editable: it runs this tree's horizon_cli.
	# (-qq: setuptools warns on every editable install that folders may shadow packages.)
	$(PY) -m pip install -qq --no-deps -e .
	touch $(STAMP)

install: $(STAMP) system-packages $(SPEEDUPS)

# The ingest core's C fast path (layers/core/speedups), built with this machine's C compiler.
# Without a compiler the pure-Python code runs instead: same results, about 1.7x slower.
$(SPEEDUPS): layers/core/speedups/_horizon_speedups.c layers/core/speedups/build.py $(STAMP)
	$(PY) layers/core/speedups/build.py layers/core/python \
		|| echo "warning: the C fast path could not be built; the ingest runs in pure Python"

# $(call apt_install,command,package): install a Debian package when its command is missing,
# refreshing the package lists once if the first try fails (a fresh container has none).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
apt_install = command -v $(1) >/dev/null 2>&1 || $(SUDO) apt-get install -y -qq $(2) >/dev/null 2>&1 \
	|| { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(2); }

# bubblewrap gives each sandboxed run its own namespaces locally (sandbox_task/README.md).
# Installed from Debian's packages when missing; without it the sandbox runs without them.
system-packages:
	@$(call apt_install,bwrap,bubblewrap) \
		|| echo "warning: bubblewrap could not be installed; the sandbox runs without namespaces"
	@# Chromium drives the web console's browser tests (tests/integration/test_console.py,
	@# through playwright, whose own browser download is never used); ~100 MB.
	@$(call apt_install,chromium,chromium) \
		|| echo "warning: chromium could not be installed; the console's browser tests are skipped"

up: install
	PORT=$(PORT) $(PY) -m local

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

unit: install
	$(PY) -m pytest tests/unit

integration: install
	$(PY) -m pytest tests/integration

infra: install
	$(PY) -m pytest tests/infra

# The Lambda dependencies layer, built without Docker: manylinux wheels for Lambda's platform.
deps-layer: install
	$(PY) -m infra.bundling build/deps-layer

# The Lambda (ARM64) build of the ingest fast path, run under qemu and compared with the local one.
verify-arm64: install
	@$(call apt_install,qemu-aarch64-static,qemu-user-static)
	$(PY) -m infra.verify_arm64

synth: deps-layer
	$(PY) app.py
	$(PY) -m infra.nag_report cdk.out

bench: install
	$(PY) -m bench

deploy: deps-layer
	$(CDK) deploy --require-approval broadening

deploy-localstack: deps-layer
	$(CDKLOCAL) bootstrap
	$(CDKLOCAL) deploy --require-approval never

clean:
	rm -rf $(VENV) build cdk.out .pytest_cache .ruff_cache
