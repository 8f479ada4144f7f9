"""Monitoring for module 10 (shared.serve.monitoring, faults, loadgen, background): PromQL-style
quantiles checked against numpy on the same observations, windows and rates, alert states, a real
scrape over HTTP, fault injection on the real engine, and a real locust run."""
import math
import threading

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from shared.serve.background import serve_in_thread
from shared.serve.monitoring import (
    AlertRule,
    Scraper,
    buckets,
    histogram_quantile,
    latency_quantile,
    parse_metrics,
    rate,
    total,
    windows,
)

BOUNDS = (0.1, 0.2, 0.5, 1, 2, 5)


def histogram_sample(values, name="lat"):
    registry = CollectorRegistry()
    histogram = Histogram(name, "latency", registry=registry, buckets=BOUNDS)
    for v in values:
        histogram.observe(v)
    return parse_metrics(generate_latest(registry).decode())


def bucket_of(x):
    return next((b for b in BOUNDS if x <= b), math.inf)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_histogram_quantile_lands_in_the_bucket_of_the_true_quantile(q):
    values = np.random.default_rng(0).lognormal(mean=-0.5, sigma=0.8, size=2000)
    estimate = histogram_quantile(q, buckets(histogram_sample(values), "lat"))
    exact = np.quantile(values, q, method="inverted_cdf")
    assert bucket_of(estimate) == bucket_of(exact)


def test_histogram_quantile_interpolates_like_prometheus():
    cumulative = [(1.0, 0), (2.0, 10), (4.0, 20), (math.inf, 20)]
    assert histogram_quantile(0.5, cumulative) == 2.0       # rank 10: the top of the (1, 2] bucket
    assert histogram_quantile(0.75, cumulative) == 3.0      # rank 15: halfway through (2, 4]
    assert histogram_quantile(0.25, cumulative) == 1.5
    assert histogram_quantile(0.99, [(1.0, 0), (math.inf, 5)]) == 1.0  # in +Inf: the largest finite bound
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0), (math.inf, 0)]))


def test_parse_and_total_match_the_exposition():
    registry = CollectorRegistry()
    requests = Counter("req", "requests", ["status"], registry=registry)
    requests.labels("200").inc(3)
    requests.labels("429").inc(2)
    sample = parse_metrics(generate_latest(registry).decode())
    assert total(sample, "req_total") == 5
    assert total(sample, "req_total", status="429") == 2


def counter_series(per_second, seconds, every=0.5):
    return [(t, {("c_total", ()): per_second * t}) for t in np.arange(0, seconds + 1e-9, every)]


def test_windows_reach_back_at_least_the_window():
    series = counter_series(2.0, 5)
    ws = list(windows(series, 2.0))
    assert ws[0].t == 2.0 and all(w.dt >= 2.0 for w in ws) and len(ws) == len(series) - 4
    assert all(r == pytest.approx(2.0) for _, r in rate(series, "c_total", 2.0))


def test_latency_quantile_over_a_window_forgets_old_observations():
    slow, fast = histogram_sample([3.0] * 10), histogram_sample([3.0] * 10 + [0.15] * 50)
    series = [(0.0, {}), (1.0, slow), (3.0, fast)]
    (t, p50), = latency_quantile(series, 0.5, "lat", window_s=2.0)   # only the window from t=1 to t=3
    assert t == 3.0 and bucket_of(p50) == 0.2


def test_alert_goes_pending_then_firing_then_resolves():
    values = [0, 0, 5, 5, 5, 5, 0, 0]
    series = [(float(i), {("g", ()): float(v)}) for i, v in enumerate(values)]
    rule = AlertRule("high", lambda w: w.gauge("g"), above=1, for_s=2, window_s=0)
    assert [s for _, _, s in rule.evaluate(series)] == ["inactive", "inactive", "pending", "pending", "firing",
                                                        "firing", "inactive", "inactive"]
    nan_rule = AlertRule("nan", lambda w: math.nan, above=0)
    assert {s for _, _, s in nan_rule.evaluate(series)} == {"inactive"}


def test_scraper_reads_a_real_metrics_endpoint():
    registry = CollectorRegistry()
    hits = Counter("hits", "hits", registry=registry)
    app = FastAPI()

    @app.get("/metrics")
    def metrics():
        hits.inc()
        return Response(generate_latest(registry), media_type="text/plain")

    server, url = serve_in_thread(app)
    seen = []
    try:
        scraper = Scraper(url, every_s=0.05, on_scrape=lambda t, s: seen.append(total(s, "hits_total"))).start()
        while len(seen) < 4:
            threading.Event().wait(0.05)
        series = scraper.stop()
    finally:
        server.should_exit = True
    assert scraper.failures == 0 and len(series) >= 4
    assert [total(s, "hits_total") for _, s in series[:4]] == [1, 2, 3, 4]  # each scrape sees the ones before it
    assert all(b[0] > a[0] for a, b in zip(series, series[1:]))


@pytest.fixture(scope="module")
def engine():
    from shared.models import load_causal_lm
    from shared.serve.engine import Engine

    model, tokenizer = load_causal_lm(None, dtype="float32")
    engine = Engine(model, tokenizer, max_batch=8, max_wait_ms=0).start()
    yield engine
    engine.stop()


def test_injected_faults_fail_and_slow_the_real_engine(engine, monkeypatch):
    from shared.serve import faults as faults_module
    from shared.serve.engine import Request
    from shared.serve.faults import inject_faults

    faults = inject_faults(engine)
    assert engine.model.config is engine.model._model.config       # the wrapper is the model to the engine
    ids = engine.tokenizer("Hello", add_special_tokens=False).input_ids
    faults.error_rate = 1.0
    failed = engine.generate([Request(ids, max_tokens=3)], timeout=60)[0]
    assert failed.finish_reason == "error" and failed.output_ids == []
    faults.clear()
    sleeps = []
    monkeypatch.setattr(faults_module.time, "sleep", sleeps.append)
    faults.delay_s = 0.25
    steps = engine.steps
    done = engine.generate([Request(ids, max_tokens=3)], timeout=60)[0]
    assert done.finish_reason in ("length", "stop") and done.output_ids
    assert sleeps == [0.25] * (1 + engine.steps - steps)              # one sleep per forward pass (prefill + decode)
    faults.delay_s, faults.error_rate = 0.0, 0.5
    outcomes = [r.finish_reason for r in engine.generate([Request(ids, max_tokens=1) for _ in range(20)], timeout=120)]
    assert 4 <= outcomes.count("error") <= 16 and "error" in outcomes  # a seeded coin per request


def test_locust_run_is_counted_by_both_ends():
    from shared.serve.loadgen import start_locust

    answered = {"200": 0, "429": 0}
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/v1/chat/completions")
    def complete(body: dict):
        with lock:
            status = "429" if sum(answered.values()) % 3 == 2 else "200"
            answered[status] += 1
        return JSONResponse({"ok": status == "200"}, status_code=int(status))

    server, url = serve_in_thread(app)
    try:
        stats = start_locust(url, "m", stages=[(1, 1), (2, 2)], prompts=["hi"], wait_s=0.1).wait(timeout=60)
    finally:
        server.should_exit = True
    assert stats["requests"] > 5
    assert 0 <= sum(answered.values()) - stats["requests"] <= 2        # at most one abandoned per user
    assert stats["failures_by_error"].get("CatchResponseError('HTTP 429')", 0) == stats["failures"] > 0
