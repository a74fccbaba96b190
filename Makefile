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

unit:
	$(CARGO) test --workspace --locked

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
