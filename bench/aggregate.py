"""`make bench-aggregate`: the organization aggregate's peak memory at 1,000 and at 100,000
repositories (1 and 100 registries of 1,000), each in a process of its own (shared/benches/
aggregate.rs, over synthetic shard results). Prints both measurements and exits 1 when the
larger run's peak resident memory is over 128 MiB or more than 10 % above the smaller's.

Environment: REPOSITORIES (1000, per registry), REGISTRIES (100, the larger run).
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_REGISTRY = int(os.environ.get("REPOSITORIES", "1000"))
REGISTRIES = int(os.environ.get("REGISTRIES", "100"))
LIMIT_KIB = 128 * 1024


def run(registries):
    command = [os.environ.get("CARGO", "cargo"), "bench", "-q", "--locked", "-p", "ecr-keeper-core", "--features", "test-util",
               "--bench", "aggregate", "--", "--registries", str(registries), "--repositories", str(PER_REGISTRY)]
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def main():
    small, large = run(1), run(REGISTRIES)
    ratio = large["peakResidentKiB"] / small["peakResidentKiB"]
    for m in (small, large):
        print(f"{m['repositories']:>9,} repositories in {m['registries']:>4} registries: "
              f"peak {m['peakResidentKiB'] / 1024:6.1f} MiB, index {m['indexBytes']:,} bytes, "
              f"{m['puts']:,} files written ({m['writtenBytes'] / 2**20:,.0f} MiB)")
    print(f"peak at {large['repositories']:,} / at {small['repositories']:,}: {ratio:.3f}")
    failed = []
    if large["peakResidentKiB"] > LIMIT_KIB:
        failed.append("over 128 MiB")
    if ratio > 1.10:
        failed.append("more than 10 % above the smaller run")
    if failed:
        print("FAIL: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
