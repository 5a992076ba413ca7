# bcdrfix: `make demo` and `make test` do all set-up on a fresh Debian machine (as root).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BCDRFIX := $(VENV)/bin/bcdrfix
PYINFRA := $(VENV)/bin/pyinfra
# libkrb5-dev, gcc, python3-dev: pypsrp[kerberos] builds gssapi and krb5 (no Linux wheels)
APT_PACKAGES := debootstrap systemd-container iproute2 openssh-client python3-venv chromium shellcheck \
	libkrb5-dev gcc python3-dev psmisc
STAMP := $(VENV)/.bcdrfix-installed

.PHONY: setup demo lint test lab-up lab-down clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ "$$(id -u)" = 0 ] && ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; fi
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip 2>/dev/null || true
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: setup
	$(BCDRFIX) demo

# Fast gates (a few seconds), before any test: style, types, import layers, shell scripts.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports
	find src -name '*.sh' -print0 | xargs -0 --no-run-if-empty shellcheck --shell=sh

test: setup lint
	$(PY) -m pytest -ra $(PYTEST_ARGS)

# Benchmark-only tools (ansible-core, asyncssh) go into the virtualenv here, never as runtime deps.
bench: setup
	$(PY) -m pip install -q -r benchmarks/requirements.txt
	@status=0; $(PY) benchmarks/run.py || status=1; $(PY) benchmarks/scale.py || status=1; exit $$status

lab-up: setup
	$(BCDRFIX) lab up

lab-down: setup
	$(BCDRFIX) lab down

clean:
	-$(BCDRFIX) lab down
	rm -rf $(VENV) collected-logs reports
