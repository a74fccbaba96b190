"""What most people would write instead of push-events: boto3, an ECR client built at start, a
DescribeRepositories per event. Speaks the Lambda Runtime API itself (no awslambdaric), so the
comparison with the Rust binaries measures Python + boto3, not a library."""

import json
import os
import urllib.request

import boto3

ecr = boto3.client("ecr")
api = os.environ["AWS_LAMBDA_RUNTIME_API"]

while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as nxt:
        request_id = nxt.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(nxt.read())
    try:
        ecr.describe_repositories(repositoryNames=[event["detail"]["repository-name"]])
        result = {"handled": "push"}
    except ecr.exceptions.RepositoryNotFoundException:
        result = {"handled": "push", "warnings": ["repository gone"]}
    req = urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{request_id}/response", data=json.dumps(result).encode(), method="POST")
    urllib.request.urlopen(req).read()
