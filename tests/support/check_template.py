"""What CloudFormation, CloudWatch and SNS will do with template.yaml, checked before a deploy.

Each group answers one way a real deploy of an earlier template went wrong (moto cannot see any
of them):

  alerts     the alert topic's key admits this account's CloudWatch alarms (never alias/aws/sns),
             every alarm notifies the topic, the publisher may use the key only through SNS
  logs       every function names a log group of this stack in LoggingConfig, so the group
             exists before the function can run (no "already exists" rollback); names are
             unique per stack
  schedules  no schedule has a fixed name, before and after SAM's transform
  failures   the scheduled functions have a dead-letter queue, an Errors alarm each, and their
             schedules an explicit retry policy and dead-letter queue
  access     the ServiceToken export is opt-in; the Inspector rule only takes ECR images
  ledger     the alert ledger table: on demand, encrypted, TTL, point-in-time recovery
  checkov    every suppressed checkov check has a reason, and docs/template.md lists each one
  bus        member events on a bus of the stack's own, admitted by organization, source and type;
             OrganizationId refused without Accounts
  cost       the default bill does not grow with the registry: MetricSeries=essential, the
             alarms and dashboards read only essential series, the topic's key opt-in

Usage: .venv/bin/python tests/support/check_template.py template.yaml [--expect-failure]
With --expect-failure (run on tests/support/fixtures/template-before-alerts.yaml) it exits 0 only
if each of the groups alerts, logs, schedules, failures and access finds a fault there.
"""

import json
import os
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]


def as_list(v):
    return v if isinstance(v, list) else [v]


def ref(value):
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return (att if isinstance(att, list) else att.split("."))[0]
    return None


def resources_of(template, kind):
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def sam_transform(template):
    """SAM's own transform, as `sam deploy` runs it (no managed policies are referenced)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    import copy

    template = copy.deepcopy(template)
    # What `sam deploy` uploads first: the code as an S3 object.
    for resource in resources_of(template, "AWS::Serverless::Function").values():
        resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    for resource in resources_of(template, "AWS::Serverless::StateMachine").values():
        if isinstance(resource["Properties"].get("DefinitionUri"), str):
            resource["Properties"]["DefinitionUri"] = "s3://bucket/definition.asl.json"
    params = {k: v.get("Default", "") for k, v in template.get("Parameters", {}).items()}
    params.update({"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "stack", "AWS::Partition": "aws"})
    return transform(template, params, NoManagedPolicies())


class Checks:
    def __init__(self, quiet):
        self.quiet = quiet
        self.failed = {}
        self.passed = 0

    def __call__(self, group, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed.setdefault(group, []).append(what)
            if not self.quiet:
                print(f"FAIL [{group}] {what}")


def check_alerts(t, check):
    topics = resources_of(t, "AWS::SNS::Topic")
    check("alerts", "AlertTopic" in topics, "an AlertTopic")
    topic = topics.get("AlertTopic", {}).get("Properties", {})
    key = topic.get("KmsMasterKeyId")
    check("alerts", "alias/aws/sns" not in str(key), "the alert topic does not use alias/aws/sns (CloudWatch alarms cannot)")
    # Encrypted: by a key of this stack (possibly behind a condition that turns encryption off).
    if isinstance(key, dict) and "Fn::If" in key:
        key = key["Fn::If"][1]
    key_name = ref(key)
    if key is not None:
        k = t["Resources"].get(key_name, {})
        check("alerts", k.get("Type") == "AWS::KMS::Key", f"the topic's key is a key of this stack, not {key}")
        props = k.get("Properties", {})
        check("alerts", props.get("EnableKeyRotation") is True, "the topic's key rotates")
        grants = {}
        for st in as_list(props.get("KeyPolicy", {}).get("Statement", [])):
            for service in as_list(st.get("Principal", {}).get("Service", [])) if isinstance(st.get("Principal"), dict) else []:
                grants.setdefault(service, set()).update(as_list(st.get("Action", [])))
        actions = grants.get("cloudwatch.amazonaws.com", set())
        check("alerts", "kms:Decrypt" in actions and any(a.startswith("kms:GenerateDataKey") for a in actions),
              "the key policy admits cloudwatch.amazonaws.com (Decrypt, GenerateDataKey*)")
        for st in as_list(props.get("KeyPolicy", {}).get("Statement", [])):
            principal = st.get("Principal", {})
            services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
            if services:
                condition = json.dumps(st.get("Condition", {}))
                check("alerts", "aws:SourceAccount" in condition,
                      f"the key's grant to {services} is for this account only (aws:SourceAccount)")
    alarms = resources_of(t, "AWS::CloudWatch::Alarm")
    for name, alarm in alarms.items():
        check("alerts", [ref(a) for a in as_list(alarm["Properties"].get("AlarmActions", []))] == ["AlertTopic"],
              f"{name} notifies the alert topic")
    scan = t["Resources"].get("ScanEventsFunction", {}).get("Properties", {})
    env = scan.get("Environment", {}).get("Variables", {})
    check("alerts", ref(env.get("KEEPER_ALERT_TOPIC_ARN")) == "AlertTopic", "scan-events publishes to the alert topic")
    check("alerts", ref(env.get("KEEPER_ALERT_TABLE")) == "AlertLedgerTable", "scan-events remembers alerts in the ledger table")


def check_logs(t, check):
    functions = resources_of(t, "AWS::Serverless::Function")
    groups = resources_of(t, "AWS::Logs::LogGroup")
    names = []
    for name, fn in functions.items():
        group = ref(fn["Properties"].get("LoggingConfig", {}).get("LogGroup"))
        depends = as_list(fn.get("DependsOn", []))
        check("logs", group in groups or any(d in groups for d in depends),
              f"{name}: its log group exists before it can run (LoggingConfig or DependsOn)")
        if group in groups:
            log_name = str(groups[group]["Properties"].get("LogGroupName"))
            names.append(log_name)
            check("logs", "AWS::StackName" in log_name, f"{name}: its log group name is unique per stack ({log_name})")
            check("logs", name not in log_name, f"{name}: its log group name does not refer back to the function (a cycle)")
    check("logs", len(names) == len(set(names)), "log group names are distinct")
    # As deployed (SAM merges Globals into each function): JSON at the stack's level, which
    # lambda_support::init_logging reads from AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL.
    deployed = resources_of(sam_transform(t), "AWS::Lambda::Function") if functions else {}
    for name, fn in deployed.items():
        logging = fn["Properties"].get("LoggingConfig", {})
        check("logs", logging.get("LogFormat") == "JSON" and ref(logging.get("ApplicationLogLevel")) == "LogLevel",
              f"{name}: JSON logs at the LogLevel parameter's level (LoggingConfig)")
        check("logs", logging.get("SystemLogLevel") == "INFO",
              f"{name}: Lambda's report of each invocation (duration, timeout) is kept (SystemLogLevel INFO)")
    # Lambda files a JSON line without "level" (the EMF metrics, the one-line reports) as INFO.
    levels = t.get("Parameters", {}).get("LogLevel", {}).get("AllowedValues", [])
    if functions and levels:
        check("logs", not set(levels) & {"WARN", "ERROR", "FATAL"},
              "LogLevel offers no level above INFO, which would drop the EMF metric lines")


def schedule_events(t):
    for kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
        for name, fn in resources_of(t, kind).items():
            for event_name, event in fn["Properties"].get("Events", {}).items():
                if event.get("Type") == "ScheduleV2":
                    yield name, event_name, event.get("Properties", {})


def check_schedules(t, check):
    events = list(schedule_events(t))
    check("schedules", len(events) >= 2, "the audit and the cost report are scheduled")
    for fn, event, props in events:
        named = props.get("Name")
        check("schedules", props.get("OmitName") is True or (named is not None and "AWS::StackName" in str(named)),
              f"{fn}.{event}: no fixed schedule name (OmitName or a name from the stack)")
    try:
        transformed = sam_transform(t)
    except Exception as e:  # the transform's own refusal is a finding, not a crash
        check("schedules", False, f"SAM transforms the template ({e})")
        return
    schedules = resources_of(transformed, "AWS::Scheduler::Schedule")
    check("schedules", len(schedules) == len(events), "SAM made one schedule per ScheduleV2 event")
    for name, schedule in schedules.items():
        check("schedules", "Name" not in schedule["Properties"], f"after SAM's transform, {name} has no fixed Name")
        # SAM gives the schedule's role the right to send to its dead-letter queue.
        role = transformed["Resources"].get(ref(schedule["Properties"].get("Target", {}).get("RoleArn")), {})
        actions = {a for p in role.get("Properties", {}).get("Policies", []) for st in as_list(p["PolicyDocument"]["Statement"])
                   for a in as_list(st.get("Action", []))}
        check("schedules", "sqs:SendMessage" in actions, f"after SAM's transform, {name}'s role may send to its dead-letter queue")


def check_failures(t, check):
    functions = resources_of(t, "AWS::Serverless::Function")
    alarms = resources_of(t, "AWS::CloudWatch::Alarm")
    queues = resources_of(t, "AWS::SQS::Queue")
    errors_alarmed = {ref(d.get("Value")) for a in alarms.values() if a["Properties"].get("MetricName") == "Errors"
                      for d in a["Properties"].get("Dimensions", []) if d.get("Name") == "FunctionName"}
    machines = resources_of(t, "AWS::Serverless::StateMachine")
    failed_alarmed = {ref(d.get("Value")) for a in alarms.values() if a["Properties"].get("MetricName") == "ExecutionsFailed"
                      for d in a["Properties"].get("Dimensions", []) if d.get("Name") == "StateMachineArn"}
    for fn, event, props in schedule_events(t):
        retry = props.get("RetryPolicy", {})
        check("failures", "MaximumRetryAttempts" in retry and "MaximumEventAgeInSeconds" in retry,
              f"{fn}.{event}: the schedule's retry policy is explicit")
        check("failures", ref(props.get("DeadLetterConfig", {}).get("Arn")) in queues, f"{fn}.{event}: the schedule has a dead-letter queue")
        if fn in machines:
            check("failures", fn in failed_alarmed, f"{fn}: an ExecutionsFailed alarm")
            continue
        f = functions[fn]["Properties"]
        dlq = ref(f.get("DeadLetterQueue", {}).get("TargetArn"))
        on_failure = f.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        check("failures", dlq in queues or on_failure is not None, f"{fn}: a dead-letter queue or on-failure destination")
        check("failures", fn in errors_alarmed, f"{fn}: an Errors alarm")
        if dlq in queues:
            watched = any(ref(d.get("Value")) == dlq for a in alarms.values() for d in a["Properties"].get("Dimensions", []))
            check("failures", watched, f"{fn}: its dead-letter queue is alarmed")


def check_access(t, check):
    outputs = t.get("Outputs", {})
    for name, output in outputs.items():
        if "Export" in output and "RepositoryResourceFunction" in str(output.get("Value")):
            check("access", output.get("Condition") is not None, f"the ServiceToken export ({name}) is opt-in")
    events = t["Resources"].get("ScanEventsFunction", {}).get("Properties", {}).get("Events", {})
    for name, event in events.items():
        pattern = event.get("Properties", {}).get("Pattern", {})
        if "aws.inspector2" in as_list(pattern.get("source", [])):
            check("access", "repository-name" in pattern.get("detail", {}), f"{name}: only ECR images (detail.repository-name)")


def check_ledger(t, check):
    table = t["Resources"].get("AlertLedgerTable", {})
    props = table.get("Properties", {})
    check("ledger", table.get("Type") == "AWS::DynamoDB::Table", "an alert ledger table")
    check("ledger", props.get("BillingMode") == "PAY_PER_REQUEST", "the ledger is on demand")
    check("ledger", props.get("SSESpecification", {}).get("SSEEnabled") is True, "the ledger is encrypted")
    check("ledger", props.get("TimeToLiveSpecification", {}).get("Enabled") is True, "the ledger's items expire (TTL)")
    check("ledger", props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True, "the ledger has PITR")


def suppressions(t):
    for name, resource in t["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            yield name, skip.get("id"), skip.get("comment", "")


def check_checkov(t, check):
    doc = ROOT / "docs" / "template.md"
    listed = doc.read_text() if doc.exists() else ""
    rows = set(re.findall(r"^\|\s*`?(\w+)`?\s*\|\s*`?(CKV\w+)`?\s*\|", listed, re.M))
    found = set()
    for name, check_id, comment in suppressions(t):
        found.add((name, check_id))
        check("checkov", len(comment.strip()) > 20, f"{name}: {check_id} is suppressed with a reason")
        check("checkov", (name, check_id) in rows, f"docs/template.md lists {check_id} on {name}")
    check("checkov", rows <= found, f"docs/template.md lists no suppression the template lacks: {sorted(rows - found)}")


def check_runs(t, check):
    """The scheduled runs are state machines over the deployed ASL file, keeping reports in a
    private, TLS-only, encrypted bucket whose objects expire."""
    machines = resources_of(t, "AWS::Serverless::StateMachine")
    scheduled = {fn for fn, _, _ in schedule_events(t)}
    for fn in ("LifecycleAuditFunction", "CostReportFunction"):
        check("runs", fn not in scheduled, f"{fn} is started by its state machine, not by a schedule")
    for name, machine in machines.items():
        props = machine["Properties"]
        check("runs", name in scheduled, f"{name} is scheduled")
        check("runs", props.get("DefinitionUri") == "statemachines/scheduled-run.asl.json",
              f"{name} runs statemachines/scheduled-run.asl.json")
        check("runs", props.get("Type", "STANDARD") == "STANDARD", f"{name} is a Standard workflow (Distributed Map, 1-year runs)")
        check("runs", "AWS::StackName" in str(props.get("Name")), f"{name}: its name is unique per stack")
    check("runs", len(machines) == 2, "an audit run and a cost run")
    definition = json.loads((ROOT / "statemachines" / "scheduled-run.asl.json").read_text())
    states = definition["States"]
    shards = states.get("Shards", {})
    check("runs", shards.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED", "the shards run on a Distributed Map")
    check("runs", "ItemReader" in shards and "MaxConcurrencyPath" in shards and "ToleratedFailurePercentagePath" in shards,
          "the Map reads its items from S3, with concurrency and tolerated failures from the stack's parameters")
    task = shards.get("ItemProcessor", {}).get("States", {}).get("Shard", {})
    retried = {e for r in task.get("Retry", []) for e in r.get("ErrorEquals", [])}
    check("runs", {"Lambda.TooManyRequestsException", "Lambda.ServiceException", "Throttled"} <= retried,
          "a shard is retried on Lambda's throttling and service errors and on AWS throttling")
    choice = states.get("Reported?", {})
    check("runs", choice.get("Type") == "Choice" and choice.get("Default") == "Shards", "unfinished repositories get another pass")
    bucket = t["Resources"].get("ReportsBucket", {})
    props = bucket.get("Properties", {})
    block = props.get("PublicAccessBlockConfiguration", {})
    check("runs", bucket.get("Type") == "AWS::S3::Bucket" and "BucketName" not in props, "a reports bucket, named by CloudFormation")
    check("runs", all(block.get(k) is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")),
          "the reports bucket blocks all public access")
    check("runs", bool(props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")), "the reports bucket is encrypted at rest")
    rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
    check("runs", any(ref(r.get("ExpirationInDays")) == "ReportRetentionDays" for r in rules), "reports expire after ReportRetentionDays")
    policies = [p for p in resources_of(t, "AWS::S3::BucketPolicy").values() if ref(p["Properties"].get("Bucket")) == "ReportsBucket"]
    tls_only = any(st.get("Effect") == "Deny" and "aws:SecureTransport" in json.dumps(st.get("Condition", {}))
                   for p in policies for st in as_list(p["Properties"]["PolicyDocument"]["Statement"]))
    check("runs", tls_only, "the reports bucket refuses requests without TLS")


def check_bus(t, check):
    """Member events land on a bus of ecr-keeper's own (no rule of the central account's default
    bus fires on them), admitted only from the organization and only of the types handled; a
    statement id within EventBridge's 64 characters; OrganizationId refused without Accounts."""
    policies = resources_of(t, "AWS::Events::EventBusPolicy")
    for name, policy in policies.items():
        props = policy["Properties"]
        bus = ref(props.get("EventBusName"))
        check("bus", bus in resources_of(t, "AWS::Events::EventBus"), f"{name}: on a bus of this stack, not the default bus")
        statement_id = props.get("StatementId", "")
        check("bus", isinstance(statement_id, str) and len(statement_id) <= 64,
              f"{name}: a fixed statement id of at most 64 characters ({statement_id!r})")
        condition = props.get("Statement", {}).get("Condition", {}).get("StringEquals", {})
        for key in ("aws:PrincipalOrgID", "events:source", "events:detail-type"):
            check("bus", key in condition, f"{name}: admits PutEvents only with {key}")
        rules = [r for r in resources_of(t, "AWS::Events::Rule").values() if ref(r["Properties"].get("EventBusName")) == bus]
        check("bus", len(rules) >= 2, f"{name}: the member bus has rules for pushes and scans")
    rules = t.get("Rules", {})
    check("bus", any("OrganizationId" in json.dumps(r.get("RuleCondition")) and "Accounts" in json.dumps(r.get("Assertions"))
                     for r in rules.values()), "OrganizationId without Accounts is refused (a Rules assertion)")


def essential_series():
    """metrics::ESSENTIAL, read from the core's source: the names the default publishes."""
    source = (ROOT / "shared" / "src" / "metrics.rs").read_text()
    names = dict(re.findall(r'pub const (\w+): &str = "(\w+)";', source))
    listed = re.search(r"pub const ESSENTIAL: &\[&str\] = &\[(.*?)\];", source, re.S)
    return {names[n] for n in re.findall(r"names::(\w+)", listed.group(1) if listed else "")}


def template_metrics(t):
    """Every EcrKeeper metric the template reads: (where, metric name, dimensions)."""
    out = []
    for name, alarm in resources_of(t, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if props.get("Namespace") == "EcrKeeper":
            out.append((name, props.get("MetricName"), props.get("Dimensions", [])))
    for name, dashboard in resources_of(t, "AWS::CloudWatch::Dashboard").items():
        body = dashboard["Properties"].get("DashboardBody", "")
        text = body.get("Fn::Sub", "") if isinstance(body, dict) else body
        text = text[0] if isinstance(text, list) else text
        for metric in re.findall(r'\["EcrKeeper", "(\w+)"((?:, "[^"]*")*)\]', text):
            out.append((name, metric[0], [d for d in metric[1].split(",") if d.strip()]))
    return out


def check_cost(t, check):
    """The default deployment's bill does not grow with the registry: the functions publish the
    essential series by default, the alarms and dashboards read only those, the key is opt-in
    (README, "What running ecr-keeper costs")."""
    essential = essential_series()
    check("cost", len(essential) == 10, f"ten essential series (CloudWatch's free allowance), not {sorted(essential)}")
    params = t.get("Parameters", {})
    check("cost", params.get("MetricSeries", {}).get("Default") == "essential", "MetricSeries defaults to essential")
    check("cost", params.get("RepositoryMetrics", {}).get("Default") == "false", "no repository's own series by default")
    check("cost", params.get("AlertTopicEncryption", {}).get("Default") == "none", "the topic's $1 key is opt-in")
    for where, metric, dimensions in template_metrics(t):
        check("cost", metric in essential and not dimensions,
              f"{where} reads EcrKeeper {metric} {dimensions}: not an essential series, absent by default")
    for name, function in resources_of(t, "AWS::Serverless::Function").items():
        env = function.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if "KEEPER_METRICS" in env or "KEEPER_REPOSITORY_METRICS" in env:
            check("cost", ref(env.get("KEEPER_METRIC_SERIES")) == "MetricSeries", f"{name} publishes what MetricSeries says")
    alarms = len(resources_of(t, "AWS::CloudWatch::Alarm"))
    dashboards = len(resources_of(t, "AWS::CloudWatch::Dashboard")) + 1  # the cost report's own
    check("cost", alarms <= 11 and dashboards <= 3, f"{alarms} alarms and {dashboards} dashboards, as the README counts")


GROUPS = [check_alerts, check_logs, check_schedules, check_failures, check_access, check_ledger, check_checkov, check_runs,
          check_bus, check_cost]
MUST_FAIL_ON_OLD = {"alerts", "logs", "schedules", "failures", "access"}


def main(args):
    path = next((a for a in args if not a.startswith("--")), "template.yaml")
    template, errors = decode(path)
    if errors:
        sys.exit(f"{path}: {errors}")
    expect_failure = "--expect-failure" in args
    checks = Checks(quiet=expect_failure)
    for group in GROUPS:
        group(template, checks)
    if expect_failure:
        missed = MUST_FAIL_ON_OLD - set(checks.failed)
        if missed:
            sys.exit(f"template: {path} passes the {sorted(missed)} checks, but it must not")
        print(f"template: {path} fails {sorted(checks.failed)}, as it should")
        return
    failed = sum(len(v) for v in checks.failed.values())
    print(f"template: {checks.passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
