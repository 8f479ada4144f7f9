"""A blue/green router: one stable address for clients, two upstream servers behind it, one of them live.

    python -m shared.ops.router --port 8100 --state build/router.json

Clients always call the router. It forwards every request to the live colour's server and says
which colour answered in the `X-Served-By` header. A release is deployed to the idle colour,
checked there, and promoted by switching the live colour (an atomic pointer flip); the old colour
keeps running, so a rollback is the same flip back. Admin endpoints (bind to 127.0.0.1 only):

    GET  /_router                                      {"live": "blue", "upstreams": {...}, "switches": n}
    POST /_router/upstream {"color": "green", "url": "http://127.0.0.1:8001", "version": "v2"}
    POST /_router/switch   {"color": "green"}          refuses a colour without a healthy upstream

The state is saved to `--state` on every change (written to a temporary file, then renamed), so a
restarted router comes back with the same live colour. Responses are buffered, not streamed: a
production router (nginx, Envoy, a cloud load balancer) streams and adds connection pooling.
"""
import argparse
import http.client
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

COLORS = ("blue", "green")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "server", "date"}


class RouterState:
    """The live colour and the two upstreams, shared by the handler threads and saved on every change."""

    def __init__(self, path: Path | None):
        self.path, self.lock = path, threading.Lock()
        self.live, self.upstreams, self.versions, self.switches = None, {}, {}, 0
        if path and path.exists():
            saved = json.loads(path.read_text())
            self.live, self.upstreams = saved["live"], saved["upstreams"]
            self.versions, self.switches = saved.get("versions", {}), saved.get("switches", 0)

    def snapshot(self) -> dict:
        return {"live": self.live, "upstreams": dict(self.upstreams), "versions": dict(self.versions),
                "switches": self.switches}

    def save(self) -> None:
        if self.path:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.snapshot(), indent=2))
            os.replace(tmp, self.path)  # atomic: a reader sees the old state or the new, never half


def _forward(url: str, method: str, path: str, headers: dict, body: bytes | None, timeout: float = 300):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def _healthy(url: str) -> bool:
    try:
        return _forward(url, "GET", "/health", {}, None, timeout=5)[0] == 200
    except OSError:
        return False


class RouterHandler(BaseHTTPRequestHandler):
    server: "Router"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the upstream servers log requests
        pass

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _reply(self, status: int, payload, headers=(), content_type="application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-type":
                self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _admin(self, body: bytes | None) -> None:
        state = self.server.state
        if self.command == "GET" and self.path == "/_router":
            return self._reply(200, state.snapshot())
        try:
            request = json.loads(body or b"{}")
            color = request["color"]
        except (ValueError, KeyError):
            return self._reply(400, {"error": 'send JSON with a "color": "blue" or "green"'})
        if color not in COLORS:
            return self._reply(400, {"error": f"color must be one of {COLORS}, got {color!r}"})
        if self.command == "POST" and self.path == "/_router/upstream":
            with state.lock:
                state.upstreams[color] = request["url"]
                state.versions[color] = request.get("version")
                state.save()
            return self._reply(200, state.snapshot())
        if self.command == "POST" and self.path == "/_router/switch":
            url = state.upstreams.get(color)
            if not url or not _healthy(url):
                return self._reply(409, {"error": f"{color} has no healthy upstream ({url}): deploy it first"})
            with state.lock:
                if state.live != color:
                    state.live, state.switches = color, state.switches + 1
                state.save()
            return self._reply(200, state.snapshot())
        return self._reply(404, {"error": f"unknown admin endpoint {self.command} {self.path}"})

    def _proxy(self) -> None:
        body = self._body()
        if self.path.startswith("/_router"):
            return self._admin(body)
        state = self.server.state
        with state.lock:  # read the pointer once: this request goes to one colour, whatever happens next
            color = state.live
            url = state.upstreams.get(color)
        if url is None:
            return self._reply(503, {"error": "no live upstream: deploy a release and switch to it"})
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
        try:
            status, upstream_headers, data = _forward(url, self.command, self.path, headers, body)
        except OSError as e:
            return self._reply(502, {"error": f"{color} upstream {url} failed: {e}"}, [("X-Served-By", color)])
        content_type = {k.lower(): v for k, v in upstream_headers}.get("content-type", "application/json")
        self._reply(status, data, [*upstream_headers, ("X-Served-By", color)], content_type)

    do_GET = do_POST = do_PUT = do_DELETE = _proxy


class Router(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, state: RouterState):
        super().__init__(address, RouterHandler)
        self.state = state


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.ops.router", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (the admin API has no auth)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, help="JSON file that keeps the live colour across restarts")
    args = parser.parse_args(argv)
    router = Router((args.host, args.port), RouterState(args.state))
    print(f"blue/green router on http://{args.host}:{args.port}", flush=True)
    try:
        router.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
