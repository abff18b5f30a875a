# The project's commands. Every CI step calls one of these, so a laptop runs what CI runs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt
# Keep BentoML's store inside the repo (ignored by git) so nothing leaks into $HOME.
export BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export PULUMI_SKIP_UPDATE_CHECK := true

STACK ?= dev
FORMAT ?= text
PORT ?= 3000

.PHONY: help setup constraints run repro serve test test-fast lint format bench remote-s3 \
        plan cost bootstrap-state clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

setup: $(STAMP) ## Create .venv and install the project with its dev tools (pinned)

constraints: ## Re-resolve the dependencies and rewrite the pinned constraints file
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	.venv-lock/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	.venv-lock/bin/pip freeze --exclude-editable --exclude mlops-template \
	  | sed -e '1i # Pinned versions for reproducible installs: regenerate with `make constraints`.' > $(CONSTRAINTS)
	rm -rf .venv-lock

run: setup ## The whole ML loop locally: dvc repro, then serve the bento and query it
	$(BIN)/dvc repro
	$(PY) -m ml.demo

repro: setup ## Run the DVC pipeline (only stages whose inputs changed)
	$(BIN)/dvc repro

serve: setup ## Serve the latest bento in the foreground on PORT
	$(PY) -m ml.serve --port $(PORT)

test: setup lint ## Lint, type-check and run the whole test suite
	$(BIN)/pytest

test-fast: setup ## The tests without the slow end-to-end ones
	$(BIN)/pytest -m 'not slow'

lint: setup ## ruff, pyright over infra/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright

format: setup ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup ## Benchmark the service against a FastAPI peer and in-process predict
	$(BIN)/dvc repro
	$(PY) -m ml.bench

remote-s3: setup ## Point DVC's remote at s3://BUCKET (ENDPOINT= for S3-compatible stores)
	@test -n "$(BUCKET)" || { echo "usage: make remote-s3 BUCKET=<name> [ENDPOINT=<url>]"; exit 2; }
	$(BIN)/dvc remote add --force --default s3 s3://$(BUCKET)/dvc
	$(if $(ENDPOINT),$(BIN)/dvc remote modify s3 endpointurl $(ENDPOINT),$(BIN)/dvc remote modify --unset s3 endpointurl || true)

clean: ## Remove generated outputs (keeps .venv and the DVC cache)
	rm -rf reports data/prepared models .bentoml
