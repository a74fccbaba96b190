"""`make measure`: zipped size of each function, cold start against a minimal local Lambda
Runtime API (process start → first GET /next, and → first response) compared with a bare
`lambda_runtime` binary run in the same rounds (the floor: `initOverBare`, target ≤ 1.5) and an
equivalent Python handler that imports boto3 and builds an ECR client, and peak RSS of each
function handling its sample event. Where valgrind is installed, also the instructions each
binary runs from exec to its first Runtime API call (`initInstructions`, counted by callgrind:
the same on every run, so a change of a few percent shows, where the timings' noise hides it).
Prints one JSON document.

Needs: `sam build --beta-features` (arm64 bootstraps in .aws-sam/build) for sizes, and
`cargo build --release` (x86_64 binaries, runnable here) for timings.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("MEASURE_RUNS", "20"))
FUNCTIONS = {
    "RepositoryResourceFunction": "repository-resource",
    "PushEventsFunction": "push-events",
    "ScanEventsFunction": "scan-events",
    "LifecycleAuditFunction": "lifecycle-audit",
    "CostReportFunction": "cost-report",
    "SecurityHubFindingsFunction": "security-hub-findings",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zipped_size(path):
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    return len(buf.getvalue())


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a killed function's half-closed connection is expected, not news


class RuntimeApi:
    """Serves one event on GET /next and records when things happen."""

    def __init__(self, event):
        self.port = free_port()
        if "ResponseURL" in event:
            event = {**event, "ResponseURL": f"http://127.0.0.1:{self.port}/cfn-response?X-Amz-Signature=x"}
        self.event = json.dumps(event).encode()
        self.first_next = None
        self.response = None
        self.error = None  # what the function posted to /error, if it failed
        self.done = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.endswith("/invocation/next"):
                    if api.first_next is None:
                        api.first_next = time.monotonic()
                        deadline = int(time.time() * 1000) + 60_000
                        return self._answer(200, api.event, [
                            ("Lambda-Runtime-Aws-Request-Id", "measure-1"),
                            ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:measure"),
                            ("Content-Type", "application/json")])
                    api.done.wait(30)  # a second /next waits: the measurement is over
                    return self._answer(204)
                self._answer(404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if "/error" in self.path:
                    api.error = body.decode(errors="replace")
                if "/response" in self.path or "/error" in self.path:
                    api.response = time.monotonic()
                    api.done.set()
                self._answer(202)

            def do_PUT(self):  # the CloudFormation ResponseURL
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._answer(200)

        self.server = QuietServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.done.set()
        self.server.shutdown()


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_once(command, event, env):
    api = RuntimeApi(event)
    env = {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}", "AWS_LAMBDA_FUNCTION_NAME": "measure",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}
    start = time.monotonic()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api.done.wait(30)
    rss = peak_rss_kib(proc.pid)
    proc.kill()
    proc.wait()
    api.close()
    if api.first_next is None or api.response is None:
        raise RuntimeError(f"{command[0]} did not complete an invocation")
    # A failed invocation is not a response time: the figures would time the failure.
    if api.error is not None:
        raise RuntimeError(f"{command[0]} failed its invocation: {api.error}")
    return (api.first_next - start) * 1000, (api.response - start) * 1000, rss


def init_instructions(command, env):
    """Instructions from exec to the first Runtime API call: the API's port has no listener, so
    the runtime's first request fails and the process exits there. None without valgrind."""
    closed = free_port()  # bound and released: nothing listens on it
    env = {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{closed}", "AWS_LAMBDA_FUNCTION_NAME": "measure",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}
    try:
        run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in run.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    return None


def summarize(runs):
    return {
        "initMsMedian": round(statistics.median(r[0] for r in runs), 2),
        "firstResponseMsMedian": round(statistics.median(r[1] for r in runs), 2),
        "peakRssMiB": round(max(r[2] for r in runs) / 1024, 1),
        "runs": len(runs),
    }


def measure(command, event, env):
    return summarize([run_once(command, event, env) for _ in range(RUNS)])


def measure_interleaved(commands, env):
    """Each command once per round, RUNS rounds: machine noise falls on all of them alike."""
    runs = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, (command, event) in commands.items():
            runs[name].append(run_once(command, event, env))
    return {name: summarize(r) for name, r in runs.items()}


def sample(name):
    with open(os.path.join(ROOT, "events", name)) as f:
        return json.load(f)


def wait_port(port):
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing answered on port {port}")


def main():
    # moto behind the CloudWatch bridge (the cost report reads and writes metrics).
    moto_port, bridge_port = free_port(), free_port()
    support = os.path.join(ROOT, "tests", "support")
    moto = subprocess.Popen([sys.executable, os.path.join(support, "moto_server.py"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(moto_port)
    bridge = subprocess.Popen([sys.executable, os.path.join(support, "cloudwatch_bridge.py"), "--port", str(bridge_port),
                               "--moto", f"http://127.0.0.1:{moto_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(bridge_port)
    try:
        measure_all(f"http://127.0.0.1:{bridge_port}")
    finally:
        for p in (bridge, moto):
            p.terminate()
            p.wait()


def measure_all(endpoint):
    # Lambda's environment: no SSL_CERT_* (they would switch the functions to the system's
    # roots, see adapters/aws/src/trust.rs), region and credentials as variables.
    lambda_env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR", "NIX_SSL_CERT_FILE")}
    env = {**lambda_env, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_EC2_METADATA_DISABLED": "true", "KEEPER_METRICS": "off"}
    delete = sample("cfn-delete.json")
    delete["PhysicalResourceId"] = "ecr-keeper:failed-create:measure"  # answers without an AWS call
    scheduled = {"version": "0", "id": "m", "detail-type": "Scheduled Event", "source": "aws.scheduler", "account": "123456789012",
                 "time": "2026-11-26T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}
    events = {
        "repository-resource": delete,
        "push-events": sample("ecr-image-action-push.json"),
        "scan-events": sample("ecr-image-scan-basic.json"),
        "lifecycle-audit": scheduled,
        "cost-report": scheduled,
    }
    result = {"sizes": {}, "coldStart": {}}
    for logical, binary in FUNCTIONS.items():
        built = os.path.join(ROOT, ".aws-sam", "build", logical, "bootstrap")
        if os.path.exists(built):
            result["sizes"][binary] = {"bootstrapMiB": round(os.path.getsize(built) / 2**20, 2), "zipMiB": round(zipped_size(built) / 2**20, 2)}
    # The floor: a lambda_runtime binary that only echoes its event (bench/bare-lambda).
    commands = {"bare-lambda": ([os.path.join(ROOT, "target", "release", "bare-lambda")], events["push-events"])}
    for binary, event in events.items():
        commands[binary] = ([os.path.join(ROOT, "target", "release", binary)], event)
    result["coldStart"] = measure_interleaved(commands, env)
    bare = result["coldStart"]["bare-lambda"]["initMsMedian"]
    result["initOverBare"] = {b: round(result["coldStart"][b]["initMsMedian"] / bare, 2) for b in events} if bare else None
    result["initTarget"] = "at most 1.5x bare-lambda"
    counts = {name: init_instructions(command, env) for name, (command, _) in commands.items()}
    # The Findings step's function: its start only (an event of its own needs a kept report), with
    # the bucket its start requires.
    findings = [os.path.join(ROOT, "target", "release", "security-hub-findings")]
    counts["security-hub-findings"] = init_instructions(findings, {**env, "KEEPER_REPORTS_BUCKET": "measure"})
    if all(counts.values()):
        result["initInstructions"] = counts
        result["initInstructionsOverBare"] = {b: round(counts[b] / counts["bare-lambda"], 2) for b in counts}
    else:
        result["initInstructions"] = "not counted: valgrind is not installed"
    python = [sys.executable, os.path.join(ROOT, "bench", "python_handler.py")]
    result["coldStart"]["python-boto3"] = measure(python, events["push-events"], env)
    rust = result["coldStart"]["push-events"]["initMsMedian"]
    result["pythonInitOverRust"] = round(result["coldStart"]["python-boto3"]["initMsMedian"] / rust, 1) if rust else None
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
