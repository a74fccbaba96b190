"""A local ECR to try the CLI on: the test harness's moto (tests/support/moto_server.py) on
127.0.0.1, seeded with three repositories of images and a pull-through cache rule without a
creation template (what the audit's REG-2 catches), until Ctrl-C.

Usage (after `make setup`):  .venv/bin/python examples/local-registry.py [--port 5000]
Then, in another terminal, the environment it prints and `target/debug/ecr-keeper audit`.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "tests", "support", "moto_server.py")
MIB = 1 << 20

# (repository, tags of its images oldest first, layer MiB, a lifecycle policy or None)
REPOSITORIES = [
    ("shop/web", ["v1.0", "v1.1", "v1.2", None, None, "v1.3", "latest"], 40,
     {"rules": [{"rulePriority": 1, "description": "Keep last 2 images tagged v*",
                 "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 2},
                 "action": {"type": "expire"}}]}),
    ("shop/worker", ["build-101", "build-102", None, "build-103"], 120, None),
    ("data/jobs", ["2026-11-01", "2026-11-15", "2026-12-01"], 300, None),
]


def digest(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def manifest(name, i, mib):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1500,
                   "digest": digest(f"{name}-config-{i}")},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": mib * MIB,
             "digest": digest(f"{name}-base")},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": (i + 1) * MIB,
             "digest": digest(f"{name}-app-{i}")},
        ],
    })


def wait_for(port, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"moto did not start on port {port} within {seconds} s")


def seed(endpoint):
    ecr = boto3.client("ecr", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    for name, tags, mib, policy in REPOSITORIES:
        ecr.create_repository(repositoryName=name)
        for i, tag in enumerate(tags):
            extra = {"imageTag": tag} if tag else {}
            ecr.put_image(repositoryName=name, imageManifest=manifest(name, i, mib), **extra)
        if policy:
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="registry-1.docker.io")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    port = parser.parse_args().port
    # `kill` as well as Ctrl-C stops the server with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = subprocess.Popen([sys.executable, HARNESS, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        endpoint = f"http://127.0.0.1:{port}"
        seed(endpoint)
        print(f"A local ECR at {endpoint} with {len(REPOSITORIES)} repositories. In another terminal:\n")
        print(f"  export AWS_ENDPOINT_URL={endpoint} AWS_REGION=us-east-1 "
              "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
        print("  target/debug/ecr-keeper audit")
        print("  target/debug/ecr-keeper cost-report --output-dir target/try\n")
        print("Ctrl-C stops it.", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
