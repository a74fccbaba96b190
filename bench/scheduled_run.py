"""`make bench-run`: the audit's state machine (statemachines/scheduled-run.asl.json, as
template.yaml deploys it) on moto over REPOSITORIES repositories of IMAGES images each, shards
of SHARD, with the release function binaries under `cargo lambda watch --release`. Then the
same registry audited in one process by the release CLI.

Reports (one JSON document): wall time, Lambda invocations and their durations, state
transitions (the parent's, from the execution history, plus each shard's child execution),
S3 requests, and ECR calls of the run and of the one-process audit (they must be equal: no
shard repeats a call), and the requests per shard beyond ECR's.

With ACCOUNTS > 0 it is an organization run: moto's organization gets ACCOUNTS member accounts,
each with member/template.yaml deployed (tests/support/organization.py), REPOSITORIES
repositories of IMAGES images in each of REGIONS; the state machine covers them through the
member role (KEEPER_ACCOUNTS=organization), the CLI with --accounts. AssumeRole calls are
counted: one per registry in the plan and one per shard; the CLI's one per registry.

Environment: REPOSITORIES (1000; per registry with ACCOUNTS), IMAGES (20), SHARD (50),
CONCURRENCY (10), ACCOUNTS (0), REGIONS (us-east-1).
Needs `make setup` and the release builds (`make bench-run` does both).
"""

import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv", "bin")
REPOSITORIES = int(os.environ.get("REPOSITORIES", "1000"))
IMAGES = int(os.environ.get("IMAGES", "20"))
SHARD = int(os.environ.get("SHARD", "50"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "10"))
ACCOUNTS = int(os.environ.get("ACCOUNTS", "0"))
REGIONS = [r for r in os.environ.get("REGIONS", "us-east-1").split(",") if r]
EXTERNAL_ID = "bench-external-id"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def progress(text):
    print(text, file=sys.stderr, flush=True)


def read_log(path):
    counts = collections.Counter()
    durations = collections.defaultdict(list)
    if not os.path.exists(path):
        return counts, durations
    with open(path) as f:
        for line in f:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "call":
                service, _, operation = rest.partition(" ")
                if service == "s3":
                    # Method and the object kind, not the key: "PUT shards", "GET passes".
                    method, _, path = operation.partition(" ")
                    parts = [p for p in path.split("/") if p]
                    kind_of_object = parts[-2] if len(parts) >= 2 else "bucket"
                    operation = f"{method} {kind_of_object}"
                counts[f"{service} {operation}"] += 1
            elif kind == "invoke":
                counts[f"invoke {rest}"] += 1
            elif kind == "invoke-ms":
                name, mode, ms = rest.split(" ")
                durations[mode].append(float(ms))
    return counts, durations


def organization_registries(endpoint, env):
    """Creates the organization and its member stacks; an ECR client in each member registry."""
    trusted = "arn:aws:iam::123456789012:role/lifecycle-audit-role"
    out = subprocess.run(
        [os.path.join(VENV, "python"), os.path.join(ROOT, "tests/support/organization.py"), "--endpoint", endpoint,
         "--members", str(ACCOUNTS), "--regions", ",".join(REGIONS), "--trusted", trusted, "--external-id", EXTERNAL_ID],
        env=env, capture_output=True, text=True, check=True,
    )
    org = json.loads(out.stdout)
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    clients = []
    for account in org["members"]:
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                                RoleSessionName="bench")["Credentials"]
        for region in REGIONS:
            clients.append(boto3.client("ecr", endpoint_url=endpoint, region_name=region,
                                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                        aws_session_token=creds["SessionToken"]))
    return clients


def main():
    moto_port, router_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    log = tempfile.NamedTemporaryFile(prefix="ecr-keeper-bench-calls-", suffix=".log", delete=False).name
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    moto = subprocess.Popen(
        [os.path.join(VENV, "python"), os.path.join(ROOT, "tests/support/moto_server.py"), "-H", "127.0.0.1", "-p", str(moto_port)],
        env=dict(env, KEEPER_LAMBDA_ROUTER=f"http://127.0.0.1:{router_port}", KEEPER_HARNESS_CALL_LOG=log),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    watch = None
    try:
        wait_port(moto_port)
        fn_env = dict(env, AWS_ENDPOINT_URL=endpoint, KEEPER_REPORTS_BUCKET="keeper-reports", KEEPER_METRICS="off",
                      KEEPER_SHARD_REPOSITORIES=str(SHARD), KEEPER_MAX_CONCURRENCY=str(CONCURRENCY), RUST_LOG="warn")
        scope_flags = []
        if ACCOUNTS:
            fn_env.update(KEEPER_ACCOUNTS="organization", KEEPER_EXCLUDED_ACCOUNTS="123456789012",
                          KEEPER_REGIONS=",".join(REGIONS), KEEPER_MEMBER_EXTERNAL_ID=EXTERNAL_ID)
            scope_flags = ["--accounts", "organization", "--exclude-accounts", "123456789012",
                           "--regions", ",".join(REGIONS), "--external-id", EXTERNAL_ID]
        watch = subprocess.Popen(
            [os.path.join(VENV, "cargo-lambda"), "lambda", "watch", "--release", "--ignore-changes", "-A", "127.0.0.1",
             "-P", str(router_port)],
            cwd=ROOT, env=fn_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_port(router_port)
        registries = [boto3.client("ecr", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                                   aws_secret_access_key="testing")]
        if ACCOUNTS:
            registries = organization_registries(endpoint, env)
        progress(f"seeding {len(registries)} registries x {REPOSITORIES} repositories x {IMAGES} images on moto ...")
        started = time.monotonic()
        for r, ecr in ((r, ecr) for ecr in registries for r in range(REPOSITORIES)):
            name = f"team-{r % 10}/service-{r:04d}"
            ecr.create_repository(repositoryName=name)
            for i in range(IMAGES):
                manifest = json.dumps({
                    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + f"{r:08x}{i:08x}".ljust(64, "c"), "size": 1000},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + f"{r:08x}{i:08x}".ljust(64, "d"), "size": 20_000_000}],
                })
                ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag=f"v1.{i}",
                              imageManifestMediaType="application/vnd.oci.image.manifest.v1+json")
            if (r + 1) % 100 == 0:
                progress(f"  {r + 1}/{REPOSITORIES} repositories ({time.monotonic() - started:.0f} s)")
        os.remove(log)
        progress("running the audit's state machine (the first invocation builds the release binary) ...")
        run = subprocess.run(
            [os.path.join(VENV, "python"), os.path.join(ROOT, "tests/support/scheduled_run.py"), "--endpoint", endpoint,
             "--job", "audit", "--bucket", "keeper-reports", "--timeout", "3600"],
            env=env, capture_output=True, text=True, check=False,
        )
        execution = json.loads(run.stdout or "{}")
        if execution.get("status") != "SUCCEEDED":
            raise SystemExit(f"the run ended {execution}: {run.stderr}")
        run_counts, durations = read_log(log)
        os.remove(log)
        # What the run keeps, and its largest working file (pass 1's items): the sizes that
        # bound the plan's and the aggregate's memory at scale.
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        run_id = execution["output"]["run"]["runId"]
        sizes = {f"report.{ext}": s3.head_object(Bucket="keeper-reports", Key=f"reports/audit/latest.{ext}")["ContentLength"]
                 for ext in ("json", "md", "html")}
        sizes["pass 1 items"] = s3.head_object(Bucket="keeper-reports", Key=f"runs/audit/{run_id}/passes/1.json")["ContentLength"]
        progress("auditing the same registry in one process (release CLI) ...")
        started = time.monotonic()
        cli = subprocess.run(
            [os.path.join(ROOT, "target/release/ecr-keeper"), "audit", "--output", "json", *scope_flags],
            env=dict(env, AWS_ENDPOINT_URL=endpoint), capture_output=True, text=True, check=False,
        )
        one_process_seconds = time.monotonic() - started
        if cli.returncode not in (0, 1):
            raise SystemExit(f"the CLI failed: {cli.stderr}")
        one_counts, _ = read_log(log)
    finally:
        if watch is not None:
            os.killpg(watch.pid, 15)
        moto.terminate()
        moto.wait()
        if os.path.exists(log):
            os.remove(log)

    def of(counts, prefix):
        return {k[len(prefix):]: v for k, v in sorted(counts.items()) if k.startswith(prefix)}

    shards = execution["output"]["run"]["shards"] if execution["output"]["run"]["pass"] == 1 else None
    invocations = sum(of(run_counts, "invoke ").values())
    ecr_run, ecr_one = of(run_counts, "ecr "), of(one_counts, "ecr ")
    s3 = of(run_counts, "s3 ")
    shard_ms = sorted(durations.get("shard", []))
    result = {
        "registry": {"repositories": REPOSITORIES, "imagesPerRepository": IMAGES, "shardRepositories": SHARD,
                     "maxConcurrency": CONCURRENCY},
        "organization": {"accounts": ACCOUNTS, "regions": REGIONS, "registries": len(registries),
                         "assumeRole": {"stateMachine": run_counts.get("sts AssumeRole", 0),
                                        "oneProcess": one_counts.get("sts AssumeRole", 0)}} if ACCOUNTS else None,
        "wallSeconds": execution["seconds"],
        "passes": execution["output"]["run"]["pass"],
        "shards": shards,
        "lambdaInvocations": invocations,
        "invocationMs": {mode: {"count": len(v), "median": round(sorted(v)[len(v) // 2], 1), "max": round(max(v), 1)}
                         for mode, v in durations.items() if v},
        "stateTransitions": {"parent": execution["transitions"], "shardChildren": shards,
                             "total": execution["transitions"] + (shards or 0)},
        "s3Requests": s3,
        "s3RequestsTotal": sum(s3.values()),
        "ecrCalls": {"stateMachine": ecr_run, "oneProcess": ecr_one, "equal": ecr_run == ecr_one},
        "oneProcessSeconds": round(one_process_seconds, 2),
        "bytes": sizes,
        "shardMedianMs": round(shard_ms[len(shard_ms) // 2], 1) if shard_ms else None,
    }
    print(json.dumps(result, indent=2))
    return 0 if result["ecrCalls"]["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
