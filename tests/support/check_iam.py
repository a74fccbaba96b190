"""Least privilege, checked on template.yaml.

Per function: its own role (no SAM-generated role with AWSLambdaBasicExecutionRole, no managed
policies); log writes only to its own log group; no "*" actions, no ecr:*; ECR actions scoped to
repository ARNs wherever ECR supports resource-level permissions; cloudwatch:PutMetricData only
within the EcrKeeper namespace; writes only where needed (SNS, DynamoDB and SQS on this stack's own
topic, table and queues).

For the custom resource's role it goes further and evaluates the policy as IAM would (Allow
statements; Null, StringEquals and Bool conditions; Fn::If on AllowAdoption both ways) for the
requests that matter: creating a repository with and without ownership tags, changing or deleting
an owned and an unowned repository, adopting one, and a KMS grant not made for ECR.

Usage: .venv/bin/python tests/support/check_iam.py template.yaml [--expect-failure]
       .venv/bin/python tests/support/check_iam.py member/template.yaml --member
With --member it checks the member account's template: its role trusts only the central roles
(with the ExternalId and organization conditions exactly when given), reads only ECR, and writes
(remediation, basic scans) only with AllowRemediation; the forwarding rule sends only the events
ecr-keeper handles, only to the central bus.
Before checking the template it checks itself: each of a set of over-broad edits must make it
fail, so a checker that passes everything cannot go unnoticed. With --expect-failure (used on the
template as it was before roles were scoped) it exits 0 only if the check fails.
"""

import copy
import fnmatch
import sys

from cfnlint.decode import decode

REGISTRY_LEVEL = {"ecr:GetRegistryScanningConfiguration", "ecr:GetAuthorizationToken", "ecr:ListPullTimeUpdateExclusions",
                  "ecr:DescribeRepositoryCreationTemplates", "ecr:DescribePullThroughCacheRules", "ecr:DescribeRegistry"}
# Reading running images (InUseSources): list and describe only.
WORKLOAD_READS = {"ecs:ListClusters", "ecs:ListServices", "ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks",
                  "ecs:DescribeTaskDefinition", "lambda:ListFunctions", "lambda:ListAliases", "lambda:GetFunction",
                  "inspector2:ListCoverage"}
WORKLOAD_READERS = {"LifecycleAuditFunction", "RepositoryResourceFunction"}
COMMON = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"}
# An organization run (Accounts): these functions assume the member role, and nothing else.
MEMBER_ROLE_ASSUMERS = {"LifecycleAuditFunction", "CostReportFunction", "PushEventsFunction", "ScanEventsFunction",
                        "SecurityHubFindingsFunction"}
MEMBER_ROLE = "arn:aws:iam::*:role/${MemberRoleName}"
ORGANIZATION_READS = {"organizations:ListAccounts", "organizations:ListAccountsForParent",
                      "organizations:ListOrganizationalUnitsForParent"}
WRITES = {
    "RepositoryResourceFunction": {
        "ecr:CreateRepository", "ecr:PutImageTagMutability", "ecr:PutImageScanningConfiguration", "ecr:PutLifecyclePolicy",
        "ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy", "ecr:TagResource", "ecr:UntagResource", "ecr:DeleteRepository",
        "kms:CreateGrant", "kms:RetireGrant",
    },
    "PushEventsFunction": {"ecr:StartImageScan"},
    "ScanEventsFunction": {"sns:Publish", "dynamodb:PutItem", "dynamodb:DeleteItem", "kms:GenerateDataKey*"},
    # Scheduled runs also write their shards and reports (S3) and a summary (SNS).
    # Pins (ProtectInUse): PutImage adds a tag to an existing image, BatchDeleteImage removes one.
    "LifecycleAuditFunction": {"ecr:PutLifecyclePolicy", "ecr:PutImageScanningConfiguration", "ecr:PutImage",
                               "ecr:BatchDeleteImage", "s3:PutObject", "sns:Publish", "kms:GenerateDataKey*"},
    # Security Hub (SecurityHubFindings): findings imported under the account's own product, from
    # the audit's kept reports (read only).
    "SecurityHubFindingsFunction": {"securityhub:BatchImportFindings"},
    "CostReportFunction": {"cloudwatch:PutMetricData", "cloudwatch:PutDashboard",
                           "s3:PutObject", "sns:Publish", "kms:GenerateDataKey*"},
}
# What a scheduled run's state machine may do, and on what: its own function, its run's shard
# lists, its own Map's child executions.
MACHINES = {"AuditRun": (("LifecycleAuditFunction", "SecurityHubFindingsFunction"), "audit"),
            "CostRun": (("CostReportFunction",), "cost")}
MACHINE_ACTIONS = {"lambda:InvokeFunction", "s3:GetObject", "states:StartExecution", "states:DescribeExecution",
                   "states:StopExecution"}
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "BatchCheck", "Decrypt")
# Where the stack's own resources may be the only target of these services' actions.
OWN_TARGETS = {"sns": "AlertTopic", "dynamodb": "AlertLedgerTable", "sqs": "DeadLetterQueue", "s3": "ReportsBucket"}
REPO = "arn:aws:ecr:us-east-1:123456789012:repository/team-a/app"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234"
OWNED = {"ecr-keeper:stack-id": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", "ecr-keeper:logical-id": "Repo"}


def as_list(v):
    return v if isinstance(v, list) else [v]


def statements(document, conditions):
    """The statements of a policy document, Fn::If resolved with `conditions` (name -> bool)."""
    for st in as_list(document.get("Statement", [])):
        if isinstance(st, dict) and "Fn::If" in st:
            name, yes, no = st["Fn::If"]
            st = yes if conditions.get(name, False) else no
        if isinstance(st, dict) and "Effect" in st:
            # An Fn::If inside the statement (a Condition only with a parameter set) as well.
            yield {k: v for k, v in resolve(st, conditions).items() if v is not None}


def role_of(template, fn):
    role = fn["Properties"].get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = as_list(role["Fn::GetAtt"])[0].split(".")[0]
        resource = template["Resources"].get(target, {})
        if resource.get("Type") == "AWS::IAM::Role":
            return target, resource
    return None, None


def role_statements(role, conditions):
    for policy in role["Properties"].get("Policies", []):
        yield from statements(policy.get("PolicyDocument", {}), conditions)


def text(value):
    """An intrinsic as comparable text: Fn::Sub with the example account and region filled in."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        s = as_list(value["Fn::Sub"])[0]
        for k, v in {"${AWS::Partition}": "aws", "${AWS::Region}": "us-east-1", "${AWS::AccountId}": "123456789012",
                     "${AWS::StackName}": "stack"}.items():
            s = s.replace(k, v)
        return s
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return "getatt:" + (".".join(att) if isinstance(att, list) else att)
    if isinstance(value, dict) and "Ref" in value:
        return "ref:" + value["Ref"]
    return str(value)


def matches(st, action, resource, context):
    if not any(fnmatch.fnmatchcase(action, a) for a in as_list(st["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(resource, text(r)) for r in as_list(st.get("Resource", []))):
        return False
    return all(condition_holds(op, pairs, context) for op, pairs in st.get("Condition", {}).items())


def allowed(template_statements, action, resource, context):
    """IAM's answer: refused when a Deny statement matches, else allowed when an Allow does
    (action, resource and every condition)."""
    sts = list(template_statements)
    if any(st.get("Effect") == "Deny" and matches(st, action, resource, context) for st in sts):
        return False
    return any(st.get("Effect") == "Allow" and matches(st, action, resource, context) for st in sts)


def condition_holds(op, pairs, context):
    for key, expected in pairs.items():
        present = key in context
        values = [text(e) for e in as_list(expected)]
        if op == "Null":
            if (values[0] == "true") == present:
                return False
        elif op in ("StringEquals", "Bool"):
            if not present or str(context[key]).lower() not in [v.lower() for v in values]:
                return False
        elif op == "ForAllValues:StringNotEquals":
            # Multi-valued keys (aws:TagKeys): true when no value is one of those listed (and
            # when the key is absent, as IAM evaluates ForAllValues).
            if any(v in values for v in as_list(context.get(key, []))):
                return False
        elif op == "ForAnyValue:StringEquals":
            if not any(v in values for v in as_list(context.get(key, []))):
                return False
        else:
            return False  # an operator this evaluator does not know never grants
    return True


def request_tags(tags):
    return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": list(tags)}


def resource_tags(tags):
    return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


def custom_resource_cases():
    """(description, action, resource, context, allowed without adoption, allowed with it)."""
    via_ecr = {"kms:ViaService": "ecr.us-east-1.amazonaws.com"}
    adopting = {**OWNED, "ecr-keeper:adopted": "true"}
    yield "create with ownership tags", "ecr:CreateRepository", REPO, request_tags(OWNED), True, True
    yield "tags given at creation", "ecr:TagResource", REPO, request_tags(OWNED), True, True
    yield "create without ownership tags", "ecr:CreateRepository", REPO, {}, False, False
    for action in ("ecr:DeleteRepository", "ecr:PutLifecyclePolicy", "ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy",
                   "ecr:PutImageTagMutability", "ecr:PutImageScanningConfiguration", "ecr:UntagResource"):
        yield f"{action} on an owned repository", action, REPO, resource_tags(OWNED), True, True
        yield f"{action} on an unowned repository", action, REPO, {}, False, False
    yield "user tags on an owned repository", "ecr:TagResource", REPO, {**resource_tags(OWNED), **request_tags({"team": "a"})}, True, True
    yield "user tags on an unowned repository", "ecr:TagResource", REPO, request_tags({"team": "a"}), False, False
    yield "adopting an unowned repository", "ecr:TagResource", REPO, request_tags(adopting), False, True
    # One owner per repository: no call writes ownership tags over an owner's.
    other = {"ecr-keeper:stack-id": "arn:aws:cloudformation:us-east-1:123456789012:stack/b/2", "ecr-keeper:logical-id": "B"}
    yield "another stack's ownership tags over an owner's", "ecr:TagResource", REPO, {**resource_tags(OWNED), **request_tags(other)}, False, False
    yield "adoption tags over an owner's", "ecr:TagResource", REPO, {**resource_tags(OWNED), **request_tags({**other, "ecr-keeper:adopted": "true"})}, False, False
    yield "one ownership key among user tags", "ecr:TagResource", REPO, {**resource_tags(OWNED), **request_tags({"team": "b", "ecr-keeper:logical-id": "B"})}, False, False
    yield "releasing an owned repository (its ownership keys removed)", "ecr:UntagResource", REPO, {**resource_tags(OWNED), "aws:TagKeys": list(OWNED)}, True, True
    yield "confirming a request with CloudFormation", "cloudformation:DescribeStackResource", "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", {}, True, True
    yield "a KMS grant retired for ECR", "kms:RetireGrant", KEY, via_ecr, True, True
    yield "a KMS grant retired outside ECR", "kms:RetireGrant", KEY, {}, False, False
    yield "reading any repository", "ecr:DescribeRepositories", REPO, {}, True, True
    yield "a KMS grant for ECR", "kms:CreateGrant", KEY, {**via_ecr, "kms:GrantIsForAWSResource": "true"}, True, True
    yield "a KMS grant not for an AWS resource", "kms:CreateGrant", KEY, via_ecr, False, False
    yield "a KMS grant outside ECR", "kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}, False, False


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

    resources = template["Resources"]
    functions = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}
    check(set(functions) == set(WRITES), f"every function is known: {sorted(functions)}")
    # Security Hub's function, its role and its log group exist only with SecurityHubFindings=true:
    # a default stack holds no Security Hub permission at all.
    for logical in ("SecurityHubFindingsFunction", "SecurityHubFindingsRole", "SecurityHubFindingsFunctionLogs"):
        check(resources.get(logical, {}).get("Condition") == "ImportsSecurityHubFindings",
              f"{logical} exists only with SecurityHubFindings=true (Condition ImportsSecurityHubFindings)")
    roles_seen = set()
    for name, fn in functions.items():
        role_name, role = role_of(template, fn)
        check(role is not None, f"{name} runs with a role of its own in this template (not SAM's generated one)")
        check("Policies" not in fn["Properties"], f"{name}: no SAM Policies (they would add AWSLambdaBasicExecutionRole: logs on *)")
        if role is None:
            continue
        check(role_name not in roles_seen, f"{name}: its role is not shared with another function")
        roles_seen.add(role_name)
        check(not role["Properties"].get("ManagedPolicyArns"), f"{name}: no managed policies on its role")
        log_group = fn["Properties"].get("LoggingConfig", {}).get("LogGroup", {})
        check(isinstance(log_group, dict) and "Ref" in log_group, f"{name}: LoggingConfig names its own log group")
        own_group = log_group.get("Ref") if isinstance(log_group, dict) else None
        for conditions in ({}, {c: True for c in template.get("Conditions", {})}):
            sts = list(role_statements(role, conditions))
            check(sts, f"{name} has an inline policy")
            for st in sts:
                actions = as_list(st["Action"])
                targets = [text(r) for r in as_list(st.get("Resource", []))]
                for action in actions:
                    check(action != "*" and not action.endswith(":*"), f"{name}: no wildcard action ({action})")
                    service, _, verb = action.partition(":")
                    is_read = verb.startswith(READ_PREFIXES)
                    assumes = action == "sts:AssumeRole" and name in MEMBER_ROLE_ASSUMERS
                    check(is_read or assumes or action in WRITES[name] | COMMON or action == "kms:DescribeKey",
                          f"{name}: {action} is a write it should not hold")
                    if service == "logs":
                        check(targets == [f"getatt:{own_group}.Arn"], f"{name}: {action} only on its own log group, not {targets}")
                    if service == "ecr" and action not in REGISTRY_LEVEL:
                        check(all(":repository/" in r for r in targets), f"{name}: {action} is scoped to repository ARNs, not {targets}")
                    if service in OWN_TARGETS:
                        check(all(OWN_TARGETS[service] in r for r in targets), f"{name}: {action} only on this stack's {OWN_TARGETS[service]}, not {targets}")
                    if service == "kms" and action != "kms:DescribeKey":
                        via = st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
                        check(via is not None, f"{name}: {action} only through an AWS service (kms:ViaService)")
                    if action == "cloudwatch:PutMetricData":
                        ns = st.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
                        check(ns == "EcrKeeper", f"{name}: PutMetricData is conditioned on the EcrKeeper namespace")
                    if action == "cloudwatch:PutDashboard":
                        check(all(r.endswith("dashboard/stack-costs") for r in targets), f"{name}: PutDashboard only on this stack's cost dashboard")
                    if service == "securityhub":
                        # The account's own default product (its id twice) and its own hub.
                        own = {"securityhub:BatchImportFindings": lambda acct: f":{acct}:product/{acct}/default",
                               "securityhub:GetFindings": lambda acct: f":{acct}:hub/default"}
                        check(name == "SecurityHubFindingsFunction" and action in own
                              and all(r.count(":") >= 5 and r.endswith(own[action](r.split(":")[4])) for r in targets),
                              f"{name}: {action} only on this account's own Security Hub product and hub, not {targets}")
                    if service == "servicequotas":
                        check(name == "LifecycleAuditFunction" and action == "servicequotas:GetServiceQuota"
                              and all(r.endswith(":ecr/L-03A36CE1") for r in targets),
                              f"{name}: {action} only reads ECR's images-per-repository quota, not {targets}")
                    if service in ("ecs", "lambda"):
                        check(name in WORKLOAD_READERS and action in WORKLOAD_READS,
                              f"{name}: {action} is not a read of running images it needs")
                    if service == "sts":
                        check(assumes and targets == [MEMBER_ROLE], f"{name}: {action} only on the member role, not {targets}")
                        # With OrganizationId, only the roles of that organization's accounts.
                        org = st.get("Condition", {}).get("StringEquals", {}).get("aws:ResourceOrgID")
                        wanted = {"Ref": "OrganizationId"} if conditions.get("AdmitsOrganizationEvents") else None
                        check(org == wanted, f"{name}: {action} conditioned on aws:ResourceOrgID exactly when "
                                             f"OrganizationId is set ({org})")
                    if service == "organizations":
                        check(name in ("LifecycleAuditFunction", "CostReportFunction") and action in ORGANIZATION_READS,
                              f"{name}: {action} is not a read of the organization's accounts it needs")
                    if action == "ecr:BatchDeleteImage":
                        check(st.get("Sid") == "PinRunningImages", f"{name}: BatchDeleteImage only for pins, not in {st.get('Sid')}")
                    if service == "s3" and name in ("LifecycleAuditFunction", "CostReportFunction"):
                        job = "audit" if name == "LifecycleAuditFunction" else "cost"
                        objects = [r for r in targets if "/" in r]
                        in_use = "/in-use/" if action == "s3:GetObject" and name == "LifecycleAuditFunction" else "/runs/"
                        check(all(f"/runs/{job}/" in r or f"/reports/{job}/" in r or in_use in r for r in objects),
                              f"{name}: {action} only under runs/{job}/ and reports/{job}/, not {targets}")
                    if service == "s3" and name == "SecurityHubFindingsFunction":
                        objects = [r for r in targets if "/" in r]
                        check(action in ("s3:GetObject", "s3:ListBucket") and all("/reports/audit/" in r for r in objects),
                              f"{name}: {action} only reads the audit's reports, not {targets}")
                    if service == "s3" and name == "RepositoryResourceFunction":
                        check(action == "s3:GetObject" and all("/in-use/" in r for r in targets),
                              f"{name}: {action} only reads the running-image list under in-use/, not {targets}")

    # The state machines: each invokes only its own function and reads only its run's files.
    machines = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::StateMachine"}
    check(set(machines) == set(MACHINES), f"the scheduled runs are state machines: {sorted(machines)}")
    for name, machine in machines.items():
        function, job = MACHINES.get(name, (None, None))
        role_name, role = role_of(template, machine)
        check(role is not None, f"{name} runs with a role of its own in this template")
        if role is None:
            continue
        check(role_name not in roles_seen, f"{name}: its role is not shared")
        roles_seen.add(role_name)
        check(not role["Properties"].get("ManagedPolicyArns"), f"{name}: no managed policies on its role")
        for st in [st for conditions in ({}, {c: True for c in template.get("Conditions", {})})
                   for st in role_statements(role, conditions)]:
            targets = [text(r) for r in as_list(st.get("Resource", []))]
            for action in as_list(st["Action"]):
                check(action in MACHINE_ACTIONS, f"{name}: {action} is not an action a run needs")
                if action == "lambda:InvokeFunction":
                    check(targets and all(any(f in r for f in function) for r in targets), f"{name}: invokes only {function}, not {targets}")
                if action.startswith("s3:"):
                    check(targets and all("ReportsBucket" in r and f"/runs/{job}/" in r for r in targets),
                          f"{name}: reads only runs/{job}/ in the reports bucket, not {targets}")
                if action.startswith("states:"):
                    check(targets and all(f"stack-{job}-run" in r for r in targets), f"{name}: {action} only on its own executions, not {targets}")

    # The custom resource's policy, evaluated.
    _, role = role_of(template, functions.get("RepositoryResourceFunction", {"Properties": {}}))
    if role is None:
        check(False, "RepositoryResourceFunction: a role to evaluate")
    else:
        for adoption in (False, True):
            sts = list(role_statements(role, {"AllowsAdoption": adoption}))
            for describe, action, resource, context, without, with_adoption in custom_resource_cases():
                expected = with_adoption if adoption else without
                got = allowed(sts, action, resource, context)
                check(got == expected, f"custom resource (AllowAdoption={str(adoption).lower()}): {describe} is "
                                       f"{'allowed' if got else 'refused'}, should be {'allowed' if expected else 'refused'}")
    return passed, failed


def role_statement(template, function, action_prefix):
    _, role = role_of(template, template["Resources"][function])
    for policy in role["Properties"]["Policies"]:
        for st in as_list(policy["PolicyDocument"]["Statement"]):
            if isinstance(st, dict) and "Fn::If" in st:
                st = st["Fn::If"][1]  # the statement as it is when its condition holds
            if isinstance(st, dict) and "Action" in st and any(a.startswith(action_prefix) for a in as_list(st["Action"])):
                return st
    raise SystemExit(f"self-test: no {action_prefix} statement in {function}'s role")


def mutants(template):
    """Over-broad edits, each of which the check must refuse."""
    def edit(describe, change):
        t = copy.deepcopy(template)
        change(t)
        return describe, t

    def add_action(fn, prefix, action):
        def change(t):
            st = role_statement(t, fn, prefix)
            st["Action"] = as_list(st["Action"]) + [action]
        return change

    yield edit("ecr:* on the audit", add_action("LifecycleAuditFunction", "ecr:Describe", "ecr:*"))
    yield edit("* on the push function", add_action("PushEventsFunction", "ecr:Describe", "*"))
    yield edit("a delete on the scan function", add_action("ScanEventsFunction", "ecr:Describe", "ecr:BatchDeleteImage"))
    yield edit("ECR actions on every resource", lambda t: role_statement(t, "RepositoryResourceFunction", "ecr:CreateRepository").__setitem__("Resource", "*"))
    yield edit("PutMetricData without the namespace condition", lambda t: role_statement(t, "CostReportFunction", "cloudwatch:PutMetricData").pop("Condition", None))
    yield edit("deletion without the ownership condition", lambda t: role_statement(t, "RepositoryResourceFunction", "ecr:PutImageTagMutability").pop("Condition", None))
    yield edit("logs on every group", lambda t: role_statement(t, "PushEventsFunction", "logs:").__setitem__("Resource", "*"))
    yield edit("findings of any product", lambda t: role_statement(t, "SecurityHubFindingsFunction", "securityhub:BatchImportFindings").__setitem__("Resource", "*"))
    yield edit("the Security Hub role in every stack", lambda t: t["Resources"]["SecurityHubFindingsRole"].pop("Condition"))
    yield edit("the audit importing findings itself", add_action("LifecycleAuditFunction", "ecr:Describe", "securityhub:BatchImportFindings"))
    yield edit("the findings import reading the runs", lambda t: role_statement(t, "SecurityHubFindingsFunction", "s3:GetObject").__setitem__("Resource", {"Fn::Sub": "${ReportsBucket.Arn}/*"}))
    yield edit("every service quota on the audit", lambda t: role_statement(t, "LifecycleAuditFunction", "servicequotas:").__setitem__("Resource", "*"))

    def without_ownership_guard(t):
        # The template as it was before "one owner per repository": TagResource with any keys on
        # owned repositories, creation tags on any repository, no Deny.
        _, role = role_of(t, t["Resources"]["RepositoryResourceFunction"])
        sts = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        sts[:] = [st for st in sts if not (isinstance(st, dict) and st.get("Sid") == "NeverRewriteOwnership")]
        role_statement(t, "RepositoryResourceFunction", "ecr:CreateRepository")["Condition"]["Null"].pop(
            "aws:ResourceTag/ecr-keeper:stack-id", None)
    yield edit("ownership tags writable over an owner's", without_ownership_guard)
    def machine_statement(t, machine, prefix):
        _, role = role_of(t, t["Resources"][machine])
        for st in as_list(role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]):
            if any(a.startswith(prefix) for a in as_list(st["Action"])):
                return st
        raise SystemExit(f"self-test: no {prefix} statement in {machine}'s role")

    yield edit("a run that may invoke any function", lambda t: machine_statement(t, "AuditRun", "lambda:").__setitem__("Resource", "*"))
    yield edit("a run that reads the whole bucket", lambda t: machine_statement(t, "CostRun", "s3:").__setitem__("Resource", {"Fn::Sub": "${ReportsBucket.Arn}/*"}))
    yield edit("an audit that writes other jobs' reports", lambda t: role_statement(t, "LifecycleAuditFunction", "s3:GetObject").__setitem__("Resource", {"Fn::Sub": "${ReportsBucket.Arn}/*"}))
    yield edit("the push function reading ECS", add_action("PushEventsFunction", "ecr:Describe", "ecs:ListClusters"))
    yield edit("the audit stopping ECS tasks", add_action("LifecycleAuditFunction", "ecr:Describe", "ecs:StopTask"))
    yield edit("image deletes outside the pins", add_action("LifecycleAuditFunction", "ecr:Describe", "ecr:BatchDeleteImage"))
    yield edit("assuming any role", lambda t: role_statement(t, "LifecycleAuditFunction", "sts:").__setitem__("Resource", "*"))
    yield edit("member roles of any organization", lambda t: role_statement(t, "ScanEventsFunction", "sts:").pop("Condition"))
    yield edit("the custom resource assuming member roles", add_action("RepositoryResourceFunction", "ecr:CreateRepository", "sts:AssumeRole"))
    yield edit("a KMS grant without GrantIsForAWSResource", lambda t: role_statement(t, "RepositoryResourceFunction", "kms:CreateGrant")["Condition"].pop("Bool", None))


def main(args):
    path = next((a for a in args if not a.startswith("--")), "template.yaml")
    if "--member" in args:
        main_member(path)
    template, errors = decode(path)
    if errors:
        sys.exit(f"{path}: {errors}")
    if "--expect-failure" in args:
        passed, failed = run(template, quiet=True)
        print(f"iam: {path} fails {failed} checks, as it should")
        sys.exit(0 if failed else f"iam: {path} passed every check, but it must not")
    refused = 0
    for describe, mutant in mutants(template):
        if run(mutant, quiet=True)[1] == 0:
            sys.exit(f"self-test: the check accepted a template with {describe}")
        refused += 1
    passed, failed = run(template)
    print(f"iam: {passed} passed, {failed} failed (and {refused} over-broad variants refused)")
    sys.exit(1 if failed else 0)


# --- member/template.yaml: the role the central stack assumes in each member account ---
MEMBER_READS = {"ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:BatchGetImage", "ecr:GetLifecyclePolicy",
                "ecr:GetRepositoryPolicy", "ecr:DescribeImageScanFindings", "ecr:GetRegistryScanningConfiguration",
                "ecr:ListPullTimeUpdateExclusions", "ecr:DescribeRepositoryCreationTemplates",
                "ecr:DescribePullThroughCacheRules", "ecr:DescribeRegistry", "servicequotas:GetServiceQuota"}
MEMBER_WRITES = {"ecr:PutLifecyclePolicy", "ecr:PutImageScanningConfiguration", "ecr:StartImageScan"}
MEMBER_HUB = {"securityhub:BatchImportFindings", "securityhub:GetFindings"}
MEMBER_CONDITIONS = ("CreatesRole", "HasExternalId", "HasOrganizationId", "AllowsRemediation", "ForwardsEvents",
                     "AllowsSecurityHub")


def resolve(value, conditions):
    """Fn::If resolved all the way down (None for AWS::NoValue)."""
    if isinstance(value, dict) and "Fn::If" in value:
        name, yes, no = value["Fn::If"]
        return resolve(yes if conditions.get(name, False) else no, conditions)
    if isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
        return None
    if isinstance(value, dict):
        return {k: resolve(v, conditions) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, conditions) for v in value]
    return value


def condition_value(template, name, conditions):
    definition = template.get("Conditions", {}).get(name)
    if name in conditions:
        return conditions[name]
    if isinstance(definition, dict) and "Fn::And" in definition:
        return all(condition_value(template, c["Condition"], conditions) for c in definition["Fn::And"])
    return False


def run_member(template, quiet=False):
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            if not quiet:
                print(f"FAIL member: {what}")

    resources = template["Resources"]
    roles = {k: v for k, v in resources.items() if v.get("Type") == "AWS::IAM::Role"}
    check(set(roles) == {"MemberRole", "ForwardingRole"}, f"two roles, the member's and the forwarding one: {sorted(roles)}")
    member = resources.get("MemberRole", {})
    for values in range(2 ** len(MEMBER_CONDITIONS)):
        conditions = {c: bool(values >> i & 1) for i, c in enumerate(MEMBER_CONDITIONS)}
        case = ", ".join(f"{c}={'T' if v else 'F'}" for c, v in conditions.items())
        trust = [resolve(st, conditions) for st in as_list(member.get("Properties", {}).get("AssumeRolePolicyDocument", {}).get("Statement", []))]
        check(len(trust) == 1, f"({case}) the member role has one trust statement")
        for st in trust:
            check(st.get("Principal") == {"AWS": {"Ref": "TrustedRoleArns"}},
                  f"({case}) the member role trusts only the central roles (TrustedRoleArns), not {st.get('Principal')}")
            check(st.get("Action") == "sts:AssumeRole" and st.get("Effect") == "Allow", f"({case}) trust allows only sts:AssumeRole")
            equals = (st.get("Condition") or {}).get("StringEquals", {})
            check(("sts:ExternalId" in equals) == conditions["HasExternalId"], f"({case}) the ExternalId is required exactly when given")
            check(("aws:PrincipalOrgID" in equals) == conditions["HasOrganizationId"], f"({case}) aws:PrincipalOrgID exactly when given")
        # Every policy attached to the member role, as deployed under these conditions.
        granted = []
        for policy in member.get("Properties", {}).get("Policies", []):
            granted += list(statements(policy.get("PolicyDocument", {}), conditions))
        for name, resource in resources.items():
            if resource.get("Type") != "AWS::IAM::RolePolicy":
                continue
            if resource.get("Condition") and not condition_value(template, resource["Condition"], conditions):
                continue
            if resource["Properties"].get("RoleName") == {"Ref": "MemberRole"}:
                granted += list(statements(resource["Properties"].get("PolicyDocument", {}), conditions))
        actions = {a for st in granted for a in as_list(st["Action"])}
        allowed_actions = MEMBER_READS | (MEMBER_WRITES if conditions["AllowsRemediation"] and conditions["CreatesRole"] else set())
        if conditions["AllowsSecurityHub"] and conditions["CreatesRole"]:
            allowed_actions |= MEMBER_HUB
        check(actions <= allowed_actions, f"({case}) the member role holds only {sorted(allowed_actions)}, not {sorted(actions - allowed_actions)}")
        writes = {a for a in actions - MEMBER_HUB if not a.split(":")[1].startswith(READ_PREFIXES)}
        check(conditions["AllowsSecurityHub"] or not actions & MEMBER_HUB,
              f"({case}) no Security Hub permission without AllowSecurityHubFindings")
        check(conditions["AllowsRemediation"] or not writes, f"({case}) read-only without AllowRemediation, but writes {sorted(writes)}")
        for st in granted:
            for action in as_list(st["Action"]):
                targets = [text(r) for r in as_list(st.get("Resource", []))]
                if action in MEMBER_HUB:
                    own = {"securityhub:BatchImportFindings": "arn:aws:securityhub:*:123456789012:product/123456789012/default",
                           "securityhub:GetFindings": "arn:aws:securityhub:*:123456789012:hub/default"}[action]
                    check(targets == [own], f"({case}) {action} only on this account's own {own.split(':')[-1]}, not {targets}")
                elif action == "servicequotas:GetServiceQuota":
                    check(all(r == "arn:aws:servicequotas:*:123456789012:ecr/L-03A36CE1" for r in targets),
                          f"({case}) {action} only reads ECR's images-per-repository quota, not {targets}")
                elif action not in REGISTRY_LEVEL:
                    check(all(r.startswith("arn:aws:ecr:*:123456789012:repository/") for r in targets),
                          f"({case}) {action} only on this account's repositories, not {targets}")
        forwarding = resources.get("ForwardingRole", {})
        for policy in forwarding.get("Properties", {}).get("Policies", []):
            for st in statements(policy.get("PolicyDocument", {}), conditions):
                check(as_list(st["Action"]) == ["events:PutEvents"] and st.get("Resource") == {"Ref": "CentralEventBusArn"},
                      f"({case}) the forwarding role only puts events on the central bus")
    rule = resources.get("ForwardingRule", {}).get("Properties", {})
    sources = set(rule.get("EventPattern", {}).get("source", []))
    check(sources == {"aws.ecr", "aws.inspector2"}, f"the rule forwards only ECR and Inspector events, not {sorted(sources)}")
    check(set(rule.get("EventPattern", {}).get("detail-type", [])) == {"ECR Image Action", "ECR Image Scan", "Inspector2 Scan"},
          "the rule forwards only the event types ecr-keeper handles")
    return passed, failed


def member_mutants(template):
    def edit(describe, change):
        t = copy.deepcopy(template)
        change(t)
        return describe, t

    def read_statement(t):
        return t["Resources"]["MemberRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]

    yield edit("a role anyone may assume", lambda t: t["Resources"]["MemberRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0].__setitem__("Principal", {"AWS": "*"}))
    yield edit("a write in the read policy", lambda t: read_statement(t).__setitem__("Action", read_statement(t)["Action"] + ["ecr:PutLifecyclePolicy"]))
    yield edit("remediation without AllowRemediation", lambda t: t["Resources"]["MemberRemediationPolicy"].__setitem__("Condition", "CreatesRole"))
    yield edit("a delete when remediating", lambda t: t["Resources"]["MemberRemediationPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Action"].append("ecr:BatchDeleteImage"))
    yield edit("reads of every account's repositories", lambda t: read_statement(t).__setitem__("Resource", "*"))
    yield edit("the ExternalId never required", lambda t: t["Resources"]["MemberRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0].pop("Condition"))
    yield edit("Security Hub without AllowSecurityHubFindings", lambda t: t["Resources"]["MemberSecurityHubPolicy"].__setitem__("Condition", "CreatesRole"))
    yield edit("findings of any product", lambda t: t["Resources"]["MemberSecurityHubPolicy"]["Properties"]["PolicyDocument"]["Statement"][0].__setitem__("Resource", "*"))
    yield edit("forwarding every event", lambda t: t["Resources"]["ForwardingRule"]["Properties"]["EventPattern"].__setitem__("source", ["aws.ecr", "aws.inspector2", "aws.s3"]))


def main_member(path):
    template, errors = decode(path)
    if errors:
        sys.exit(f"{path}: {errors}")
    refused = 0
    for describe, mutant in member_mutants(template):
        if run_member(mutant, quiet=True)[1] == 0:
            sys.exit(f"self-test: the member check accepted a template with {describe}")
        refused += 1
    passed, failed = run_member(template)
    print(f"iam: {path}: {passed} passed, {failed} failed (and {refused} over-broad variants refused)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
