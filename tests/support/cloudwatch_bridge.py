"""Loopback bridge between aws-sdk-cloudwatch (rpc-v2-cbor) and moto (JSON 1.0).

aws-sdk-cloudwatch >= 1.100 speaks Smithy RPC v2 CBOR, which moto does not. This proxy accepts
`POST /service/GraniteServiceVersion20100801/operation/<Op>` with a CBOR body, forwards it to
moto as JSON 1.0, and re-encodes moto's answer (errors too) as CBOR, turning the output shape's
timestamp members into CBOR tag-1 datetimes using botocore's CloudWatch model. Every other
request passes through to moto untouched, so one endpoint serves every client.

Usage: python cloudwatch_bridge.py --port PORT --moto http://127.0.0.1:MOTO_PORT
"""

import argparse
import base64
import datetime
import gzip
import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.loaders
import cbor2

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
MODEL = botocore.loaders.create_loader().load_service_model("cloudwatch", "service-2")
SHAPES = MODEL["shapes"]
OPERATIONS = MODEL["operations"]


def to_json(value):
    """CBOR-decoded request values → JSON 1.0 values (timestamps as epoch seconds)."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def from_json(value, shape_name):
    """moto's JSON output → CBOR-ready values, guided by the output shape."""
    if shape_name is None or value is None:
        return value
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        members = shape.get("members", {})
        return {k: from_json(v, members.get(k, {}).get("shape")) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [from_json(v, shape["member"]["shape"]) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: from_json(v, shape["value"]["shape"]) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
        if isinstance(value, str):
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


class Bridge(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    moto = ""

    def log_message(self, fmt, *args):  # quiet: tests read their own assertions, not access logs
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, method, path, headers, body):
        req = urllib.request.Request(self.moto + path, data=body if method != "GET" else None, method=method)
        for k, v in headers.items():
            if k.lower() not in ("host", "content-length", "accept-encoding"):
                req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.getheaders(), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.items(), err.read()

    def _passthrough(self):
        status, headers, body = self._forward(self.command, self.path, dict(self.headers), self._body())
        self._reply(status, headers, body)

    def do_GET(self):
        self._passthrough()

    def do_PUT(self):
        self._passthrough()

    def do_DELETE(self):
        self._passthrough()

    def do_HEAD(self):
        self._passthrough()

    def do_POST(self):
        if not self.path.startswith(PREFIX):
            return self._passthrough()
        op = self.path[len(PREFIX):].split("?")[0]
        raw = self._body()
        # The SDK gzips large PutMetricData bodies (request compression).
        if "gzip" in (self.headers.get("Content-Encoding") or ""):
            raw = gzip.decompress(raw)
        try:
            request = cbor2.loads(raw) if raw else {}
        except Exception as err:  # answer, rather than drop the connection
            out = cbor2.dumps({"__type": "SerializationException", "message": f"bridge could not decode CBOR: {err}"})
            return self._reply(400, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")], out)
        headers = {
            "X-Amz-Target": "GraniteServiceVersion20100801." + op,
            "Content-Type": "application/x-amz-json-1.0",
        }
        if self.headers.get("Authorization"):
            headers["Authorization"] = self.headers["Authorization"]
        status, _, body = self._forward("POST", "/", headers, json.dumps(to_json(request)).encode())
        try:
            answer = json.loads(body) if body.strip() else {}
        except ValueError:
            answer = {"__type": "InternalFailure", "message": body.decode(errors="replace")[:500]}
        if status < 300:
            output = OPERATIONS.get(op, {}).get("output", {}).get("shape")
            answer = from_json(answer, output)
        else:
            code = str(answer.get("__type", "InternalFailure")).split("#")[-1]
            answer = {"__type": code, "message": answer.get("message") or answer.get("Message") or ""}
        out = cbor2.dumps(answer, datetime_as_timestamp=True, timezone=datetime.timezone.utc)
        self._reply(status, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")], out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--moto", required=True)
    args = parser.parse_args()
    Bridge.moto = args.moto.rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Bridge)
    print(f"cloudwatch bridge on 127.0.0.1:{args.port} -> {Bridge.moto}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
