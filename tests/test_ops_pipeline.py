"""The CI/CD pipeline's parts without a model: the Dockerfile check, the blue/green router and the
promotion's automatic rollback, against stub servers (the notebook 12/01 runs them with the real one)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from shared.ops.pipeline import (
    BlueGreen,
    Pipeline,
    PipelineConfig,
    Release,
    lint_dockerfile,
    smoke_test,
)
from shared.ops.router import Router, RouterState

ROOT = Path(__file__).resolve().parents[1]
GOOD_DOCKERFILE = """FROM python:3.11-slim
COPY dist/x.whl /tmp/
RUN pip install /tmp/x.whl \\
    && rm /tmp/x.whl
USER app
EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "print(1)"]
CMD ["python", "-m", "shared.serve"]
"""


def test_the_module_dockerfile_passes_the_check():
    assert lint_dockerfile((ROOT / "module12_advanced" / "Dockerfile").read_text()) == []
    assert lint_dockerfile(GOOD_DOCKERFILE) == []


@pytest.mark.parametrize("change, problem", [
    (("FROM python:3.11-slim", "FROM python"), "pin a tag"),
    (("FROM python:3.11-slim", "FROM python:latest"), "latest"),
    (("USER app\n", ""), "root"),
    (("USER app\n", "USER root\n"), "root"),
    (("EXPOSE 8000\n", ""), "EXPOSE"),
    (('HEALTHCHECK CMD ["python", "-c", "print(1)"]\n', ""), "HEALTHCHECK"),
    (('CMD ["python", "-m", "shared.serve"]', "CMD python -m shared.serve"), "exec form"),
    (("COPY dist/x.whl", "ADD dist/x.whl"), "COPY"),
])
def test_the_dockerfile_check_finds_each_problem(change, problem):
    problems = lint_dockerfile(GOOD_DOCKERFILE.replace(*change))
    assert any(problem in p for p in problems), problems


def test_release_arguments():
    release = Release("v2", weight_bits=8)
    assert release.cli_args() == ["--weight-bits", "8"]
    assert Release("v1").cli_args() == []


class Stub(BaseHTTPRequestHandler):
    """A fake LLM server: answers `reply` to every chat completion."""
    reply = "Paris."
    healthy = True

    def log_message(self, *args):
        pass

    def _send(self, status, payload, content_type="application/json"):
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self._send(200 if self.healthy else 503, {"status": "ok"})
        if self.path == "/v1/models":
            return self._send(200, {"data": [{"id": "stub"}]})
        if self.path == "/metrics":
            return self._send(200, 'llm_requests_total{status="200"} 1.0\n', "text/plain")
        return self._send(404, {})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": self.reply}}]})


def serve_in_thread(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stub_server(reply="Paris.", healthy=True):
    handler = type("StubHandler", (Stub,), {"reply": reply, "healthy": healthy})
    server = serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), handler))
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


@pytest.fixture
def router(tmp_path):
    router = serve_in_thread(Router(("127.0.0.1", 0), RouterState(tmp_path / "router.json")))
    yield f"http://127.0.0.1:{router.server_address[1]}", tmp_path / "router.json"
    router.shutdown()


def test_the_router_forwards_to_the_live_colour_and_switches(router):
    url, state_file = router
    blue, green = stub_server("Paris, from blue."), stub_server("Paris, from green.")
    assert httpx.get(url + "/health").status_code == 503  # nothing live yet
    for color, server in (("blue", blue), ("green", green)):
        httpx.post(url + "/_router/upstream", json={"color": color, "url": server.url, "version": color})
    httpx.post(url + "/_router/switch", json={"color": "blue"}).raise_for_status()
    chat = {"model": "stub", "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(url + "/v1/chat/completions", json=chat)
    assert reply.headers["X-Served-By"] == "blue" and "blue" in reply.json()["choices"][0]["message"]["content"]
    httpx.post(url + "/_router/switch", json={"color": "green"}).raise_for_status()
    assert httpx.post(url + "/v1/chat/completions", json=chat).headers["X-Served-By"] == "green"
    saved = json.loads(state_file.read_text())
    assert saved["live"] == "green" and saved["switches"] == 2
    assert RouterState(state_file).live == "green"  # a restarted router keeps the live colour
    for server in (blue, green):
        server.shutdown()


def test_the_router_refuses_an_unhealthy_colour_and_bad_requests(router):
    url, _ = router
    sick = stub_server(healthy=False)
    httpx.post(url + "/_router/upstream", json={"color": "green", "url": sick.url})
    assert httpx.post(url + "/_router/switch", json={"color": "green"}).status_code == 409
    assert httpx.post(url + "/_router/switch", json={"color": "red"}).status_code == 400
    assert httpx.post(url + "/_router/switch", content=b"not json").status_code == 400
    sick.shutdown()


def test_smoke_test_checks_the_reply():
    good, bad = stub_server("The capital is Paris."), stub_server("I like turtles.")
    config = PipelineConfig()
    assert smoke_test(good.url, config).status == "passed"
    result = smoke_test(bad.url, config)
    assert result.status == "failed" and "Paris" in result.detail
    assert smoke_test("http://127.0.0.1:9", config).status == "failed"  # nothing listens: a clear failure
    good.shutdown(), bad.shutdown()


def test_a_promotion_that_fails_its_live_check_rolls_back(router, tmp_path):
    url, _ = router
    blue, green = stub_server("Paris."), stub_server("Berlin.")  # green passed staging, then broke
    bluegreen = BlueGreen(None, url)
    httpx.post(url + "/_router/upstream", json={"color": "blue", "url": blue.url, "version": "v1"})
    httpx.post(url + "/_router/upstream", json={"color": "green", "url": green.url, "version": "v2"})
    bluegreen.switch("blue")
    pipeline = Pipeline(PipelineConfig(workdir=tmp_path / "cicd"), bluegreen)
    pipeline._staging, pipeline._candidate_metrics = "green", {"perplexity": 10.0}
    result = pipeline.promote(Release("v2"))
    assert result.status == "failed" and "rolled back to blue" in result.detail
    assert bluegreen.live == "blue"
    assert not pipeline.baseline_path.exists()  # the baseline moves only with a promotion
    green.shutdown(), blue.shutdown()
