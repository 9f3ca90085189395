# jiyue: `make demo` and `make test` are the two commands; CI (.ci/run) runs `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CITY ?= inventories/dalian
# Debian packages the lab and the migration need on the controller (root only; skipped otherwise)
SYSTEM_PACKAGES := debootstrap openssh-client rsync nftables iproute2 util-linux procps

.DEFAULT_GOAL := help
.PHONY: help setup system-packages demo test lint bench schemas clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

system-packages: ## Install the Debian packages the lab needs (as root; a no-op otherwise)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "not root or no apt-get: skipping system packages (the lab's tests will say what they need)"; fi

setup: $(VENV)/.installed system-packages ## Create .venv with everything installed (.venv/bin/jiyue is the CLI)

demo: setup ## Validate the sample city and print its summary and IP plan
	$(BIN)/jiyue validate --city $(CITY)
	$(BIN)/jiyue city summary --city $(CITY)
	$(BIN)/jiyue ipam --city $(CITY)

test: setup ## Run every test (the lab's tests need root)
	$(BIN)/pytest

lint: setup ## ruff, yamllint
	$(BIN)/ruff check jiyue infra migration policies lab tests bench
	$(BIN)/yamllint -s inventories

bench: setup ## Run the committed benchmarks and print their figures
	$(BIN)/python bench/registry.py

schemas: setup ## Regenerate the registry's JSON Schemas in schemas/
	$(BIN)/jiyue city schema --out schemas

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
