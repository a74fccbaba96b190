#!/usr/bin/env bash
# Each function links only the SDKs it calls. SAM builds one function's package at a time, so a
# function's own dependency tree is what its zip holds: Security Hub only in security-hub-findings
# (a quarter of the audit's code before it moved out; docs/performance.md), Service Quotas only in
# the audit (QUOTA-1). Usage: check_function_deps.sh
set -euo pipefail
# crate, then the one function that may link it.
only_in=("aws-sdk-securityhub security-hub-findings" "aws-sdk-servicequotas lifecycle-audit")
functions=(repository-resource push-events scan-events lifecycle-audit cost-report security-hub-findings)
status=0
for f in "${functions[@]}"; do
    deps=$(cargo tree --locked -p "$f" -e normal --prefix none | sed 's/ v[0-9].*//' | sort -u)
    for rule in "${only_in[@]}"; do
        read -r crate owner <<<"$rule"
        linked=$(grep -cx "$crate" <<<"$deps" || true)
        if [[ "$f" == "$owner" && "$linked" == 0 ]]; then
            # The check can fail: the owner must show the crate it is the only one to link.
            echo "function-deps: $owner does not link $crate: the check is broken" >&2
            status=1
        elif [[ "$f" != "$owner" && "$linked" != 0 ]]; then
            echo "function-deps: $f links $crate; only $owner may (docs/performance.md)" >&2
            status=1
        fi
    done
done
[[ $status == 0 ]] && echo "function-deps: each of ${#functions[@]} functions links only the SDKs it calls"
exit $status
