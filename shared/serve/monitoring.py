"""Watching a server from the outside, the way Prometheus does: scrape `/metrics` on a schedule, keep
every sample, and compute rates, percentiles and alert rules from the scraped counters.

    scraper = Scraper(url, every_s=0.5).start()      # a thread: GET /metrics, parse, append
    ...                                              # load the server
    scraper.stop()
    rps = rate(scraper.samples, "llm_requests_total", window_s=3, status="200")        # [(t, req/s)]
    p99 = latency_quantile(scraper.samples, 0.99, "llm_request_latency_seconds", 3)  # [(t, s)]
    rule = AlertRule("LatencyP99High", lambda w: w.quantile(0.99, "llm_request_latency_seconds"),
                     above=2.0, for_s=1.0, window_s=3)
    states = rule.evaluate(scraper.samples)          # [(t, value, "inactive" | "pending" | "firing")]

Counters only go up, so everything is computed from the *increase* of a counter between a scrape and
the latest scrape at least `window_s` earlier (PromQL's `rate(x[3s])` and
`histogram_quantile(0.99, rate(x_bucket[3s]))`). An alert is *pending* while its condition holds and
*firing* once it has held for `for_s` seconds, as in Prometheus alerting rules.
"""
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Sample = dict[tuple[str, tuple[tuple[str, str], ...]], float]   # (name, sorted labels) -> value
Series = list[tuple[float, Sample]]                             # (seconds since the scraper started, sample)


def parse_metrics(text: str) -> Sample:
    """Prometheus text format -> {(sample name, ((label, value), ...)): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): float(s.value)
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(sample: Sample, name: str, **match: str) -> float:
    """Sum of the samples called `name` whose labels include `match` (PromQL `sum(name{match})`)."""
    return sum(value for (n, labels), value in sample.items()
               if n == name and all(dict(labels).get(k) == v for k, v in match.items()))


def buckets(sample: Sample, name: str) -> list[tuple[float, float]]:
    """A histogram's cumulative buckets [(upper bound, count), ...], +Inf last."""
    out = [(float(dict(labels)["le"]), value) for (n, labels), value in sample.items() if n == name + "_bucket"]
    return sorted(out)


def histogram_quantile(q: float, cumulative: list[tuple[float, float]]) -> float:
    """PromQL's `histogram_quantile`: the q-quantile of observations in cumulative buckets, linearly
    interpolated inside the bucket it falls in (the largest finite bound if it falls in +Inf); nan if empty."""
    if not cumulative or cumulative[-1][1] <= 0:
        return math.nan
    rank, lower, below = q * cumulative[-1][1], 0.0, 0.0
    for upper, count in cumulative:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below) if count > below else upper
        lower, below = upper, count
    return lower


@dataclass
class Window:
    """Two scrapes `dt` seconds apart: what a rule sees at time `t`."""
    t: float
    now: Sample
    before: Sample
    dt: float

    def increase(self, name: str, **match: str) -> float:
        return max(total(self.now, name, **match) - total(self.before, name, **match), 0.0)

    def rate(self, name: str, **match: str) -> float:
        return self.increase(name, **match) / self.dt

    def quantile(self, q: float, histogram: str) -> float:
        before = dict(buckets(self.before, histogram))
        return histogram_quantile(q, [(le, count - before.get(le, 0.0)) for le, count in buckets(self.now, histogram)])

    def ratio(self, name: str, part: dict, whole: dict | None = None) -> float:
        """increase(name{part}) / increase(name{whole}); 0 when nothing happened."""
        denominator = self.increase(name, **(whole or {}))
        return self.increase(name, **part) / denominator if denominator else 0.0

    def gauge(self, name: str, **match: str) -> float:
        return total(self.now, name, **match)


def windows(series: Series, window_s: float):
    """For each scrape, the window back to the latest scrape at least `window_s` earlier (none at first)."""
    j = 0
    for t, sample in series:
        while j + 1 < len(series) and series[j + 1][0] <= t - window_s:
            j += 1
        if series[j][0] <= t - window_s:
            yield Window(t, sample, series[j][1], t - series[j][0])


def rate(series: Series, name: str, window_s: float, **match: str) -> list[tuple[float, float]]:
    return [(w.t, w.rate(name, **match)) for w in windows(series, window_s)]


def latency_quantile(series: Series, q: float, histogram: str, window_s: float) -> list[tuple[float, float]]:
    return [(w.t, w.quantile(q, histogram)) for w in windows(series, window_s)]


@dataclass
class AlertRule:
    """`expr(window) > above` for `for_s` seconds -> firing (nan, e.g. no traffic, counts as false)."""
    name: str
    expr: Callable[[Window], float]
    above: float
    for_s: float = 0.0
    window_s: float = 3.0

    def evaluate(self, series: Series) -> list[tuple[float, float, str]]:
        states, since = [], None
        for w in windows(series, self.window_s):
            value = self.expr(w)
            if value > self.above:  # nan > x is False
                since = w.t if since is None else since
                states.append((w.t, value, "firing" if w.t - since >= self.for_s else "pending"))
            else:
                since = None
                states.append((w.t, value, "inactive"))
        return states


class Scraper:
    """A thread that GETs `url/metrics` every `every_s` seconds and appends (t, parsed sample) to
    `samples` (t from `start()`); `on_scrape(t, sample)` runs after each scrape (e.g. a fault schedule)."""

    def __init__(self, url: str, every_s: float = 0.5, on_scrape: Callable[[float, Sample], None] | None = None):
        self.url, self.every_s, self.on_scrape = url.rstrip("/") + "/metrics", every_s, on_scrape
        self.samples: Series = []
        self.failures = 0  # scrapes that got no answer (the series has a gap there)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Scraper":
        self.t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="scraper", daemon=True)
        self._thread.start()
        return self

    def scrape(self) -> Sample:
        import httpx

        return parse_metrics(httpx.get(self.url, timeout=5).text)

    def _loop(self) -> None:
        next_at = time.perf_counter()
        while not self._stop.is_set():
            try:
                sample = self.scrape()
            except Exception:  # a scrape that fails is a gap, as in Prometheus (`up == 0`)
                self.failures += 1
            else:
                t = time.perf_counter() - self.t0
                self.samples.append((t, sample))
                if self.on_scrape:
                    self.on_scrape(t, sample)
            next_at += self.every_s
            self._stop.wait(max(next_at - time.perf_counter(), 0))

    def stop(self) -> Series:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        return self.samples
