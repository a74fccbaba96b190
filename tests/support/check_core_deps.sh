#!/usr/bin/env bash
# The core stays pure: its dependency tree (normal and build edges) holds no AWS SDK, no HTTP
# stack. Usage: check_core_deps.sh [package] [--expect-failure]
# `--expect-failure` proves the check can fail: on the adapters crate it must find offenders.
set -euo pipefail
package="${1:-ecr-keeper-core}"
expect_failure="${2:-}"
offenders=$(cargo tree --locked -p "$package" -e normal,build --prefix none \
    | sed 's/ v[0-9].*//' | sort -u | grep -E '^(aws-|hyper|reqwest)' || true)
if [[ -n "$offenders" ]]; then
    if [[ "$expect_failure" == "--expect-failure" ]]; then
        echo "core-deps: $package depends on $(echo "$offenders" | wc -l) AWS/HTTP crates, as expected"
        exit 0
    fi
    echo "core-deps: $package must not depend on AWS SDK or HTTP crates; found:" >&2
    echo "$offenders" | sed 's/^/  /' >&2
    echo "move the code that needs them to adapters/aws (ecr-keeper-aws)" >&2
    exit 1
fi
if [[ "$expect_failure" == "--expect-failure" ]]; then
    echo "core-deps: expected $package to depend on AWS/HTTP crates, found none: the check is broken" >&2
    exit 1
fi
echo "core-deps: $package depends on no AWS SDK or HTTP crate"
