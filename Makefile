# jiyue: `make demo` and `make test` are the two commands; CI (.ci/run) runs `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CITY ?= inventories/dalian
# Debian packages the lab and the migration need on the controller (root only; skipped otherwise)
SYSTEM_PACKAGES := debootstrap openssh-client rsync nftables iproute2 util-linux procps

.DEFAULT_GOAL := help
.PHONY: help setup system-packages demo test lint bench bench-lab schemas lock clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

system-packages: ## Install the Debian packages the lab needs (as root; a no-op otherwise)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "not root or no apt-get: skipping system packages (the lab's tests will say what they need)"; fi

setup: $(VENV)/.installed system-packages ## Create .venv with everything installed (.venv/bin/jiyue is the CLI)

# `make demo` walks the main job on the sample city, one role at a time. Commands that report
# findings (exit 1: incomplete filings, policy violations) do not stop it; errors (exit 2+) do.
LAB ?= demo
DEMO_DEPARTMENTS ?= audit,finance,archives,culture,overseas-chinese
findings_ok = || [ $$? -eq 1 ]

demo: setup ## Run the main job on the sample city (the lab and the migration need root)
	@echo "== everyone: the city registry =="
	$(BIN)/jiyue validate --city $(CITY)
	$(BIN)/jiyue city summary --city $(CITY)
	@echo "== programme office: catalog and filing gate =="
	$(BIN)/jiyue catalog export --city $(CITY)
	mkdir -p .jiyue
	$(BIN)/jiyue catalog export --city $(CITY) --format xlsx --output .jiyue/catalog.xlsx
	$(BIN)/jiyue catalog export --city $(CITY) --format dcat --output .jiyue/open-catalog.jsonld
	$(BIN)/jiyue filing check --city $(CITY) $(findings_ok)
	@echo "== platform engineers: the data center's stacks, previewed offline =="
	$(BIN)/jiyue infra preview --all --summary --city $(CITY)
	@echo "== platform engineers: what one registry edit does (secrecy-edu retired, a copy of the city) =="
	rm -rf .jiyue/demo-edit && mkdir -p .jiyue && cp -r $(CITY) .jiyue/demo-edit
	sed -i '/^  - id: secrecy-edu$$/a\    retirement: {decided: 2026-05-12, approved_by: 市政务服务管理局, evidence: "audit score 85"}' \
	    .jiyue/demo-edit/departments/secrecy.yaml
	$(BIN)/jiyue infra diff --base $(CITY) --city .jiyue/demo-edit
	@echo "== programme office: what the same edit does to the catalog (its maintenance record) =="
	$(BIN)/jiyue catalog diff --base $(CITY) --city .jiyue/demo-edit
	@echo "== security staff: the policy pack judges every stack over gRPC =="
	$(BIN)/jiyue policy check --all --city $(CITY) $(findings_ok)
	@if [ "$$(id -u)" != 0 ]; then echo "not root: skipping the rehearsal lab, the audit and the migration"; exit 0; fi; \
	set -e; echo "== migration teams: the rehearsal lab =="; \
	$(BIN)/jiyue lab down --name $(LAB) >/dev/null; \
	$(BIN)/jiyue lab up --name $(LAB) --city $(CITY) --departments $(DEMO_DEPARTMENTS); \
	$(BIN)/jiyue lab probe --name $(LAB) --city $(CITY); \
	echo "== programme office: the audit on live hosts =="; \
	rm -f .jiyue/demo-state.db*; \
	$(BIN)/jiyue audit collect --lab $(LAB) --city $(CITY) --state .jiyue/demo-state.db; \
	$(BIN)/jiyue audit report --city $(CITY) --state .jiyue/demo-state.db --departments $(DEMO_DEPARTMENTS); \
	echo "== migration teams: the pilot wave, cut over and verified =="; \
	$(BIN)/jiyue migrate plan --city $(CITY); \
	$(BIN)/jiyue migrate run --wave 0 --cutover --lab $(LAB) --city $(CITY) --state .jiyue/demo-state.db; \
	echo "== migration teams: the pilot's DR systems protected (hot, warm; cold: its backups) =="; \
	$(BIN)/jiyue dr protect --wave 0 --lab $(LAB) --city $(CITY) --state .jiyue/demo-state.db; \
	$(BIN)/jiyue dr status --wave 0 --lab $(LAB) --city $(CITY) --state .jiyue/demo-state.db $(findings_ok); \
	echo "== migration teams: drills of the warm copy and the cold backup, a failover and failback of the hot one =="; \
	$(BIN)/jiyue dr drill --system finance-budget --lab $(LAB) --city $(CITY) --state .jiyue/demo-state.db; \
	$(BIN)/jiyue dr drill --system archives-digital --lab $(LAB) --city $(CITY) --state .jiyue/demo-state.db; \
	$(BIN)/jiyue dr failover --system finance-treasury --yes --lab $(LAB) --city $(CITY) --state .jiyue/demo-state.db; \
	$(BIN)/jiyue dr failback --system finance-treasury --yes --lab $(LAB) --city $(CITY) --state .jiyue/demo-state.db; \
	$(BIN)/jiyue dr report --city $(CITY) --state .jiyue/demo-state.db; \
	$(BIN)/jiyue dr report --city $(CITY) --state .jiyue/demo-state.db --format html --output .jiyue/dr-report.html; \
	echo "the lab stays up to explore: .venv/bin/jiyue lab status --name $(LAB); take it down with" \
	     ".venv/bin/jiyue lab down --name $(LAB)"

test: setup ## Run every test (the lab's tests need root)
	$(BIN)/pytest

lint: setup ## ruff, yamllint, ansible-lint (production profile)
	$(BIN)/ruff check cli jiyue infra migration policies lab tests bench
	$(BIN)/yamllint -s inventories
	cd playbooks && ../$(BIN)/ansible-lint

bench: setup ## Run the committed benchmarks and print their figures
	$(BIN)/python bench/registry.py
	$(BIN)/python bench/infra_preview.py
	$(BIN)/python bench/infra_diff.py
	$(BIN)/python bench/policy_check.py

bench-lab: setup ## The lab's benchmarks (root; minutes): lab up/down, replicate vs rsync, wave speed
	$(BIN)/python bench/lab_up.py
	$(BIN)/python bench/replicate_throughput.py
	$(BIN)/python bench/wave_speed.py

schemas: setup ## Regenerate the registry's JSON Schemas in schemas/
	$(BIN)/jiyue city schema --out schemas

lock: ## Resolve the dependencies afresh into constraints.txt (in a throw-away virtualenv)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/pip freeze --all --exclude-editable | grep -v '^jiyue==\|^pip=='; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .lock-venv

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
