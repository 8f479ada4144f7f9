"""Fault injection (chaos testing) for the serving engine: make a healthy server misbehave on purpose,
to check that the monitoring sees it and the alerts fire.

    faults = inject_faults(engine)   # once, before serving; everything off
    faults.delay_s = 0.5             # a slowed model: every forward pass takes 0.5 s longer
    faults.error_rate = 0.3          # failing requests: 30% fail in the backend (the client gets a 500)
    faults.clear()

The faults act where real ones happen: the delay in the model call (a throttled or shared GPU, a
slow driver), the failures in the backend (the engine reports the request as failed and the API
answers 500 through its normal error path, so the server's own metrics count it). A client flood
needs no injection: more clients than `max_batch + max_queue` fill the queue and get 429s.
"""
import random
import time
from dataclasses import dataclass, field


@dataclass
class Faults:
    delay_s: float = 0.0     # seconds added to every forward pass (prefill and decode)
    error_rate: float = 0.0  # fraction of requests failed at submission
    seed: int = 0            # failures are drawn from a seeded generator: reruns fail the same requests
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self):
        self.rng = random.Random(self.seed)

    def clear(self) -> None:
        self.delay_s, self.error_rate = 0.0, 0.0


class SlowedModel:
    """Calls the model after sleeping `faults.delay_s`; every other attribute is the model's."""

    def __init__(self, model, faults: Faults):
        self._model, self._faults = model, faults

    def __call__(self, *args, **kwargs):
        if self._faults.delay_s > 0:
            time.sleep(self._faults.delay_s)
        return self._model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def inject_faults(engine, faults: Faults | None = None) -> Faults:
    """Wrap a (not yet serving) `Engine`: its model call sleeps `delay_s`, its `submit` fails a fraction
    `error_rate` of requests at once (finish_reason "error": the API answers 500). Returns the switches."""
    faults = faults or Faults()
    engine.model = SlowedModel(engine.model, faults)
    submit = engine.submit

    def faulty_submit(*requests):
        healthy = []
        for request in requests:
            if faults.error_rate > 0 and faults.rng.random() < faults.error_rate:
                engine._finish(request, "error", error="injected fault: the backend failed")
            else:
                healthy.append(request)
        if healthy:
            submit(*healthy)

    engine.submit = faulty_submit
    return faults
