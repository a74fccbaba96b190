# ecr-keeper — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
NOW ?= 2026-11-01T00:00:00Z

.PHONY: test fmt-check lint unit demo bench

## make test: formatting, lints, every test.
test: fmt-check lint unit

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# cargo prints one result line per test binary, the last often a doc-test "0 passed"; close
# the run with the totals so a reader (or CI) sees what actually ran.
unit:
	@mkdir -p target; set -o pipefail; $(CARGO) test --workspace --locked 2>&1 | tee target/test.log
	@awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; if ($$(i+1) ~ /^failed/) f += $$i } } \
	    END { printf "tests: %d passed, %d failed\n", p, f; exit (p == 0 || f > 0) }' target/test.log

## make demo: what ecr-keeper says about a realistic repository's lifecycle policy.
demo:
	$(CARGO) build --quiet --locked -p ecr-keeper-cli
	@echo "== The seed's standard policy: keep the last 10 v* images, expire untagged after 7 days"
	./target/debug/ecr-keeper lifecycle generate
	@echo
	@echo "== Six weeks of pushes to app-template-dev, and what that policy does with them (at $(NOW))"
	./target/debug/ecr-keeper lifecycle preview --policy examples/lifecycle/demo/policy.json \
	    --images examples/lifecycle/demo/images.json --now $(NOW) --output table

## make bench: the lifecycle simulator at ECR's per-repository maximum (100,000 images).
bench:
	$(CARGO) bench --locked -p ecr-keeper-core --bench simulate
