"""The server of module 10, tested as a client sees it: a real `journey serve` process on 127.0.0.1
serving the real SmolLM2-135M-Instruct, called over HTTP by httpx and the official `openai` client.

One server for the whole module (loading the model is most of the cost); the last test stops it
with SIGINT while a request is in flight, to check that the shutdown is graceful."""
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shared.serve.server import TINY_MODEL_NAME, start_server

MODEL = TINY_MODEL_NAME
LIMITS = dict(max_batch=4, max_queue=8, max_context=1024, max_tokens_limit=32, max_body_bytes=100_000, timeout=120)
PROMPTS = ["What is the capital of France?", "Write a haiku about the sea.", "Explain gravity in one sentence.",
           "List three fruits.", "Say hello.", "What is 2 + 2?"]


@pytest.fixture(scope="module")
def server():
    server = start_server(**LIMITS)
    yield server
    server.stop()


def complete(url, content, **options):
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "temperature": 0,
            "max_tokens": 16, **options}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=120)


def metric(url, name) -> float:
    """The value of one Prometheus sample (name with labels, as printed) on /metrics."""
    text = httpx.get(url + "/metrics").text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_openai_client_round_trip(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == [MODEL]
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPTS[0]}],
                                           temperature=0, max_tokens=12)
    assert "Paris" in reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens <= 12 and reply.usage.prompt_tokens > 5
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_streaming_matches_the_plain_answer(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": PROMPTS[1]}]
    plain = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=16)
    stream = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=16,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert sum(bool(c.choices and c.choices[0].delta.content) for c in chunks) > 3  # token by token, not one blob
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == plain.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_greedy_outputs_are_the_same_batched_and_alone(server):
    alone = [complete(server.url, p).json()["choices"][0]["message"]["content"] for p in PROMPTS]
    multi_row_before = metric(server.url, "llm_batch_size_count") - metric(server.url, 'llm_batch_size_bucket{le="1.0"}')
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        together = [r.json()["choices"][0]["message"]["content"] for r in pool.map(lambda p: complete(server.url, p), PROMPTS)]
    multi_row = metric(server.url, "llm_batch_size_count") - metric(server.url, 'llm_batch_size_bucket{le="1.0"}')
    assert multi_row > multi_row_before  # some forward passes did hold several requests
    assert together == alone  # 6 requests, 4 rows: two joined the running batch later


def test_a_queue_longer_than_the_batch_drains(server):
    """More requests than rows: the waiting ones are admitted as rows finish (no request is stranded)."""
    n = LIMITS["max_queue"]  # all fit in the queue even if they arrive before the first admission
    with ThreadPoolExecutor(n) as pool:
        responses = list(pool.map(lambda i: complete(server.url, f"Say {i}.", max_tokens=3), range(n)))
    assert n > LIMITS["max_batch"] and [r.status_code for r in responses] == [200] * n


def test_stop_strings_and_max_tokens(server):
    full = complete(server.url, PROMPTS[1], max_tokens=24).json()["choices"][0]
    assert full["finish_reason"] == "length" and "\n" in full["message"]["content"]
    cut = complete(server.url, PROMPTS[1], max_tokens=24, stop=["\n"]).json()["choices"][0]
    assert cut["finish_reason"] == "stop"
    assert cut["message"]["content"] == full["message"]["content"].split("\n")[0]


def valid(**change):
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **change})


@pytest.mark.parametrize("body, status, code", [
    ("{not json", 400, "json_invalid"),
    ('["a list"]', 400, None),
    (valid(model=7), 400, "string_type"),
    (valid(model="gpt-4o"), 404, "model_not_found"),
    (valid(messages=[]), 400, None),
    (valid(messages=[{"role": "robot", "content": "hi"}]), 400, None),
    (valid(messages="hi"), 400, None),
    (valid(max_tokens=0), 400, None),
    (valid(max_tokens=-5), 400, None),
    (valid(max_tokens=10**9), 400, None),
    (valid(max_tokens="many"), 400, None),
    (valid(temperature=5), 400, None),
    (valid(stop=["a", "b", "c", "d", "e"]), 400, None),
    (valid(messages=[{"role": "user", "content": "word " * 1500}]), 400, "context_length_exceeded"),
    ("x" * 200_000, 413, "body_too_large"),
])
def test_bad_input_gets_a_clear_4xx(server, body, status, code):
    response = httpx.post(server.url + "/v1/chat/completions", content=body,
                          headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error"
    if code:
        assert error["code"] == code


def test_a_full_queue_answers_429(server):
    with ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(lambda i: complete(server.url, f"Count to {i}.", max_tokens=8), range(24)))
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200, 429], statuses
    busy = next(r for r in responses if r.status_code == 429)
    assert busy.json()["error"]["type"] == "rate_limit_error" and busy.headers["retry-after"]


def test_fuzzing_the_openapi_schema_finds_no_5xx(server):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def fuzz(case):
            response = case.call(base_url=server.url, timeout=60)
            assert response.status_code < 500, (case.body, response.text)

        fuzz()
    assert metric(server.url, 'llm_requests_total{status="500"}') == 0


def test_metrics_count_requests_and_tokens(server):
    assert metric(server.url, 'llm_requests_total{status="200"}') >= 10
    assert metric(server.url, 'llm_requests_total{status="404"}') >= 1
    assert metric(server.url, "llm_completion_tokens_total") > 50
    assert metric(server.url, "llm_time_to_first_token_seconds_count") >= 10


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium (apt-get install chromium)")
def test_the_chat_page_streams_a_reply_in_a_real_browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            page.wait_for_function("document.getElementById('model').textContent.includes('SmolLM2')")
            page.fill("#prompt", PROMPTS[0])
            page.click("#send")
            page.wait_for_selector("#log div[data-done='true']", timeout=120_000)
            assert page.inner_text(".user") == PROMPTS[0]
            assert "Paris" in page.inner_text(".assistant")
        finally:
            browser.close()


def test_graceful_shutdown_finishes_the_request_in_flight(server):
    """Runs last: SIGINT while a stream is half-way; the stream still ends with [DONE], the process with 0."""
    lines, started = [], threading.Event()

    def stream():
        body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPTS[1]}], "max_tokens": 32,
                "temperature": 0, "stream": True}
        with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=120) as response:
            for line in response.iter_lines():
                if line:  # events are separated by blank lines
                    lines.append(line)
                    started.set()

    client = threading.Thread(target=stream)
    client.start()
    assert started.wait(60)
    assert server.stop() == 0
    client.join(60)
    assert lines[-1] == "data: [DONE]"
    finish = [json.loads(line[6:])["choices"] for line in lines if line.startswith("data: {")][-1]
    assert finish[0]["finish_reason"] in ("stop", "length")
