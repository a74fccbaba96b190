"""Audit benchmark against moto: wall time at concurrency 1 vs 8, and the CLI's peak RSS.

Usage (after `make setup` and `cargo build --release -p ecr-keeper-cli`):
    .venv/bin/python bench/audit_bench.py --repositories 200 --images 500
    .venv/bin/python bench/audit_bench.py --repositories 100 --images 1000 --rss-only

Starts its own moto on a free loopback port, seeds it with PutImage (real manifests, distinct
layers), runs `target/release/ecr-keeper audit` and prints one JSON line of figures.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "target", "release", "ecr-keeper")
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifest(repo, k):
    digest = lambda name: "sha256:" + format(abs(hash(name)) % (1 << 256), "064x")[-64:]
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(f"cfg-{repo}-{k}"), "size": 1469},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest("base"), "size": 30_000_000},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(f"{repo}-{k}"), "size": 1_000_000},
        ],
    })


def seed(ecr, repositories, images):
    policy = subprocess.run([CLI, "lifecycle", "generate"], capture_output=True, text=True, check=True).stdout

    def one_repo(r):
        name = f"bench/service-{r:04d}"
        ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE", imageScanningConfiguration={"scanOnPush": True})
        ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=policy)
        for k in range(images):
            tag = f"v1.{k}" if k % 5 else None  # every fifth image untagged
            kwargs = {"imageTag": tag} if tag else {}
            ecr.put_image(repositoryName=name, imageManifest=manifest(name, k),
                          imageManifestMediaType="application/vnd.oci.image.manifest.v1+json", **kwargs)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one_repo, range(repositories)))


def run_audit(endpoint, concurrency):
    """Wall time and peak RSS (KiB) of one CLI audit, in a fresh process."""
    code = (
        "import resource, subprocess, sys, time;"
        "t = time.monotonic(); p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
        "print(time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)"
    )
    args = [sys.executable, "-c", code, CLI, "audit", "--endpoint-url", endpoint, "--output", "json", "--concurrency", str(concurrency)]
    out = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **ENV}, check=True).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--rss-only", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(CLI):
        sys.exit(f"{CLI} is missing: cargo build --release -p ecr-keeper-cli")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "support", "moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        ecr = boto3.client("ecr", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        t = time.monotonic()
        seed(ecr, args.repositories, args.images)
        figures = {"repositories": args.repositories, "imagesPerRepository": args.images, "seedSeconds": round(time.monotonic() - t, 1)}
        levels = [8] if args.rss_only else [1, 8]
        for c in levels:
            seconds, rss_kib, code = run_audit(endpoint, c)
            figures[f"concurrency{c}"] = {"seconds": round(seconds, 2), "peakRssMiB": round(rss_kib / 1024, 1), "exitCode": code}
        print(json.dumps(figures))
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
