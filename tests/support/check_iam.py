"""Least privilege, checked on template.yaml: per function, no "*" actions, no ecr:*, ECR
actions scoped to repository ARNs wherever ECR supports resource-level permissions,
cloudwatch:PutMetricData only within the EcrKeeper namespace, write actions only where needed.

Usage: .venv/bin/python tests/support/check_iam.py template.yaml
Before checking the template, it checks itself: each of a set of over-broad edits to the
template must make it fail, so a checker that passes everything cannot go unnoticed.
"""

import copy

import sys

from cfnlint.decode import decode

# ECR actions that do not support resource-level permissions: they must use "*".
REGISTRY_LEVEL = {"ecr:GetRegistryScanningConfiguration", "ecr:GetAuthorizationToken"}
# Write actions each function may hold; everything else must be read-only.
WRITES = {
    "RepositoryResourceFunction": {
        "ecr:CreateRepository", "ecr:PutImageTagMutability", "ecr:PutImageScanningConfiguration", "ecr:PutLifecyclePolicy",
        "ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy", "ecr:TagResource", "ecr:UntagResource", "ecr:DeleteRepository",
        "kms:CreateGrant", "kms:RetireGrant",
    },
    "PushEventsFunction": {"ecr:StartImageScan"},
    "ScanEventsFunction": set(),
    "LifecycleAuditFunction": {"ecr:PutLifecyclePolicy", "ecr:PutImageScanningConfiguration"},
    "CostReportFunction": {"cloudwatch:PutMetricData", "cloudwatch:PutDashboard"},
}
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "BatchCheck")


def as_list(v):
    return v if isinstance(v, list) else [v]


def statements(policies):
    for policy in as_list(policies or []):
        if not isinstance(policy, dict):
            continue
        for st in as_list(policy.get("Statement", [])):
            # A conditional statement: {"Fn::If": [cond, statement, AWS::NoValue]}.
            if isinstance(st, dict) and "Fn::If" in st:
                yield from (s for s in st["Fn::If"][1:] if isinstance(s, dict) and "Effect" in s)
            elif isinstance(st, dict):
                yield st


def resource_text(r):
    return str(r)


def run(template, quiet=False):
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            if not quiet:
                print(f"FAIL {what}")

    functions = {k: v for k, v in template["Resources"].items() if v.get("Type") == "AWS::Serverless::Function"}
    check(set(functions) == set(WRITES), f"every function is known: {sorted(functions)}")
    for name, fn in functions.items():
        sts = list(statements(fn["Properties"].get("Policies")))
        check(sts, f"{name} has an inline policy")
        for st in sts:
            actions = as_list(st["Action"])
            resources = [resource_text(r) for r in as_list(st.get("Resource", []))]
            for action in actions:
                check(action != "*" and not action.endswith(":*"), f"{name}: no wildcard action ({action})")
                service, _, verb = action.partition(":")
                is_read = verb.startswith(READ_PREFIXES)
                check(is_read or action in WRITES[name] or action == "kms:DescribeKey", f"{name}: {action} is a write it should not hold")
                if service == "ecr" and action not in REGISTRY_LEVEL:
                    check(all(":repository/" in r for r in resources), f"{name}: {action} is scoped to repository ARNs, not {resources}")
                if action == "cloudwatch:PutMetricData":
                    ns = st.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
                    check(ns == "EcrKeeper", f"{name}: PutMetricData is conditioned on the EcrKeeper namespace")
                if action == "cloudwatch:PutDashboard":
                    check(all("dashboard/ecr-keeper-costs" in r for r in resources), f"{name}: PutDashboard only on ecr-keeper-costs")
    return passed, failed


def first_statement(template, function, action_prefix):
    for st in statements(template["Resources"][function]["Properties"]["Policies"]):
        if any(a.startswith(action_prefix) for a in as_list(st["Action"])):
            return st
    raise SystemExit(f"self-test: no {action_prefix} statement in {function}")


def mutants(template):
    """Over-broad edits, each of which the check must refuse."""
    def edit(describe, change):
        t = copy.deepcopy(template)
        change(t)
        return describe, t

    def add_action(fn, action):
        return lambda t: first_statement(t, fn, "ecr:").__setitem__("Action", as_list(first_statement(t, fn, "ecr:")["Action"]) + [action])

    yield edit("ecr:* on the audit", add_action("LifecycleAuditFunction", "ecr:*"))
    yield edit("* on the push function", add_action("PushEventsFunction", "*"))
    yield edit("a delete on the scan function", add_action("ScanEventsFunction", "ecr:BatchDeleteImage"))
    yield edit("ECR actions on every resource", lambda t: first_statement(t, "RepositoryResourceFunction", "ecr:CreateRepository").__setitem__("Resource", "*"))
    yield edit("PutMetricData without the namespace condition", lambda t: first_statement(t, "CostReportFunction", "cloudwatch:PutMetricData").pop("Condition", None))


def main(path):
    template, errors = decode(path)
    if errors:
        sys.exit(f"{path}: {errors}")
    for describe, mutant in mutants(template):
        if run(mutant, quiet=True)[1] == 0:
            sys.exit(f"self-test: the check accepted a template with {describe}")
    passed, failed = run(template)
    print(f"iam: {passed} passed, {failed} failed (and 5 over-broad variants refused)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
