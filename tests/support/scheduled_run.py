"""Runs a scheduled run's state machine, as template.yaml deploys it, on moto.

From template.yaml it takes the state machine whose function builds the job's binary, its
definition file (statemachines/…) and DefinitionSubstitutions; it creates that function in moto
(named like its binary, which moto_server.py forwards to the Lambda emulator), the reports
bucket, and the state machine from the very file the template deploys; then starts one
execution and waits for it.

Usage: python scheduled_run.py --endpoint URL --job audit|cost --bucket NAME [--timeout S]
Prints one JSON object: status, output, error, cause, transitions, executionArn.
"""

import argparse
import io
import json
import pathlib
import sys
import time
import uuid
import zipfile

import boto3
from samtranslator.yaml_helper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARIES = {"audit": "lifecycle-audit", "cost": "cost-report"}
# The audit's Findings step (FindingsFunctionArn): created beside the job's function.
FINDINGS_BINARY = "security-hub-findings"


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def state_machine_of(template, binary):
    """(logical id, definition path, substitutions naming the function) of the job's machine."""
    resources = template["Resources"]
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource["Properties"]
        subs = props.get("DefinitionSubstitutions", {})
        target = subs.get("RunFunctionArn", {})
        function = target.get("Fn::GetAtt", [None])[0] if isinstance(target, dict) else None
        if isinstance(function, str) and "." in function:
            function = function.split(".")[0]
        built = resources.get(function, {}).get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if built == binary:
            return name, props["DefinitionUri"], subs
    raise SystemExit(f"template.yaml has no state machine running {binary}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--job", choices=sorted(BINARIES), required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    template = yaml_parse((ROOT / "template.yaml").read_text())
    binary = BINARIES[args.job]
    machine, definition_uri, subs = state_machine_of(template, binary)

    iam, lam, s3, sfn = (client(s, args.endpoint) for s in ("iam", "lambda", "s3", "stepfunctions"))
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    try:
        role = iam.create_role(RoleName=f"{binary}-role", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=f"{binary}-role")["Role"]["Arn"]
    def function(name):
        """moto's function `name`, which moto_server.py forwards to the binary of that name."""
        try:
            return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        except lam.exceptions.ResourceNotFoundException:
            code = io.BytesIO()
            with zipfile.ZipFile(code, "w") as z:
                z.writestr("bootstrap", "")
            return lam.create_function(
                FunctionName=name, Runtime="provided.al2023", Role=role, Handler="bootstrap",
                Code={"ZipFile": code.getvalue()}, Architectures=["arm64"],
            )["FunctionArn"]

    function_arn = function(binary)
    try:
        s3.create_bucket(Bucket=args.bucket)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass

    definition = (ROOT / definition_uri).read_text()
    for key in subs:
        if key not in ("RunFunctionArn", "FindingsFunctionArn"):
            raise SystemExit(f"{machine}: substitution {key} is not known to this harness")
    definition = definition.replace("${RunFunctionArn}", function_arn)
    # The template's condition (SecurityHubFindings=true) as the functions' KEEPER_SECURITY_HUB
    # sets it: the state machine reaches the Findings step only when the audit says so.
    findings_arn = function(FINDINGS_BINARY) if "FindingsFunctionArn" in subs and args.job == "audit" else function_arn
    definition = definition.replace("${FindingsFunctionArn}", findings_arn)
    name = f"{machine}-{args.job}"
    try:
        machine_arn = sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        machine_arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name)

    started = time.monotonic()
    # The scheduler names every execution; moto leaves an unnamed one's name None (AWS makes a UUID).
    execution = sfn.start_execution(stateMachineArn=machine_arn, name=f"{args.job}-{uuid.uuid4()}")["executionArn"]
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() - started > args.timeout:
            print(json.dumps({"status": "TIMED_OUT_IN_HARNESS", "executionArn": execution}))
            return 1
        time.sleep(0.2)
    seconds = time.monotonic() - started
    events = []
    token = None
    while True:
        page = sfn.get_execution_history(executionArn=execution, maxResults=1000, **({"nextToken": token} if token else {}))
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
    print(json.dumps({
        "status": described["status"],
        "output": json.loads(described.get("output") or "null"),
        "error": described.get("error"),
        "cause": described.get("cause"),
        "transitions": transitions,
        "seconds": round(seconds, 3),
        "executionArn": execution,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
