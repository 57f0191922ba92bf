# PopFlow: two commands matter. `make run` brings the system up, `make test` passes the suite.
# Both install what they need (virtualenv, Python packages, Kafka jars, PostgreSQL).

SHELL := /bin/bash
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# The interpreter the services run on. Debian's /usr/bin/python3.11 when there is one: built with
# profile-guided optimisation and LTO, libpython linked into the executable, as the python:3.11-slim
# image deploy/Dockerfile starts from is. A default pyenv build (shared libpython, no PGO) spends
# 10-13 % more CPU on routing and bulk rows (docs/performance.md, "Round 19"). `make PYTHON=... test` to choose.
PYTHON := $(firstword $(wildcard /usr/bin/python3.11) python3.11)

.PHONY: FORCE install test-packages run run-sqlite run-two test test-unit test-integration test-e2e lint format docs infra bench bench-intake clean

$(UV):
	python3.11 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# remade when PYTHON names another interpreter: uv then recreates the virtualenv on it
.tools/interpreter: FORCE | $(UV)
	@echo "$(PYTHON)" | cmp -s - $@ || echo "$(PYTHON)" > $@

$(VENV)/.synced: $(UV) pyproject.toml uv.lock .tools/interpreter
	$(UV) sync --frozen --extra demo --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## virtualenv with the locked packages
	bash deploy/kafka/fetch.sh >/dev/null

# PostgreSQL's admin URL (the last line ensure.sh prints) before a command; a failure of ensure.sh stops the
# recipe there: without the URL `popflow up` would run on the SQLite files instead, saying so only at the end.
WITH_PG := PG_URL="$$(set -o pipefail; bash deploy/postgres/ensure.sh | tail -n 1)" && POPFLOW_PG_ADMIN_URL="$$PG_URL"

run: install ## Kafka + PostgreSQL + the four services, in the foreground (Ctrl-C stops all)
	$(WITH_PG) $(VENV)/bin/popflow up

run-sqlite: install ## the same with the embedded SQLite stores under ./var
	$(VENV)/bin/popflow up

run-two: install ## two district deployments side by side (Baiyun 440111, Tianhe 440106) exchanging with each other
	$(WITH_PG) $(VENV)/bin/popflow up --districts 440111,440106

lint: $(VENV)/.synced ## ruff and mypy; `make test` fails on any finding
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(VENV)/.synced
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

docs: $(VENV)/.synced ## regenerate docs/catalogue, docs/openapi and docs/settings.md from the code
	$(PY) -m services.cli.catalogue

test-packages: ## Debian packages the tests use: headless Chromium, a CJK font, jq
	bash deploy/test-packages.sh >/dev/null

test: install test-packages lint ## the whole suite on real Kafka and PostgreSQL, started when not running
	bash deploy/with-infra.sh bash deploy/test-suite.sh

test-unit: install
	$(VENV)/bin/pytest -m unit

test-integration: install test-packages
	bash deploy/with-infra.sh $(VENV)/bin/pytest -m integration

test-e2e: install test-packages
	bash deploy/with-infra.sh $(VENV)/bin/pytest -m e2e

bench: install ## every benchmark on a private system (real Kafka, PostgreSQL): one table, bench/results/*.json
	bash deploy/with-infra.sh $(PY) bench/run_all.py

bench-intake: install ## intake: bulk CSV, single POSTs, raw aiokafka (starts its own intake; needs KAFKA_BOOTSTRAP_SERVERS and POPFLOW_TEST_PG_URL)
	$(PY) bench/intake_throughput.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
