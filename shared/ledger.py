"""The results ledger: every notebook records its key numbers and states what they must be.

    ledger.record("val_perplexity", 41.2)
    ledger.record("rouge1", 17.3, fmt=".1f", unit="points", published="lead-3: 40.3 (See et al., 2017)")
    ledger.expect("val_perplexity", below=60)             # checked in every profile
    ledger.expect("val_perplexity", below=30, profile="full")  # checked only in "full"

A failed expectation raises ``ExpectationFailed`` naming what was expected and what came out,
so the notebook (and CI) fails. Results are written after every call to a JSON file per
notebook under ``build/results/``, with how to show each one (format, unit, the published
full-scale number it compares with), which the report (`journey run`) uses.
"""
import json
import math
import numbers
import time
from pathlib import Path

from .paths import build_dir


class ExpectationFailed(AssertionError):
    pass


def _plain(value):
    """Numbers from numpy/torch become plain Python numbers, so the JSON stays readable."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


class Ledger:
    def __init__(self, notebook: str, profile: str, path: Path | None = None):
        self.notebook = notebook  # e.g. "module01_nlp_foundations/01_nlp_and_applications.ipynb"
        self.profile = profile    # "tiny" or "full"
        self.path = path or build_dir() / "results" / Path(notebook).with_suffix(".json")
        self.results = {}         # name -> value
        self.meta = {}            # name -> {"fmt", "unit", "published"}: how the report shows it
        self.expectations = []    # dicts: name, rule, value, passed
        self.started = time.time()
        self._write()

    def record(self, name: str, value, fmt: str = ".4g", unit: str | None = None, published: str | None = None):
        """Store a result and print it; returns the value so it can be used inline.

        `fmt` is its format spec, `unit` what it counts ("s", "%", "nats/token"), `published` the
        published full-scale number it compares with, with its source."""
        value = _plain(value)
        self.results[name] = value
        self.meta[name] = {key: v for key, v in (("fmt", fmt), ("unit", unit), ("published", published)) if v}
        suffix = (f" {unit}" if unit else "") + (f"  (published: {published})" if published else "")
        print(f"[ledger] {name} = {_show(value, fmt)}{suffix}")
        self._write()
        return value

    def expect(self, name, *, below=None, above=None, equals=None, tol=0.0, profile=None):
        """Check a recorded result. `below`/`above` are strict bounds; `equals` allows `tol`."""
        if not any(bound is not None for bound in (below, above, equals)):
            raise ValueError("expect() needs at least one of below=, above=, equals=")
        if profile is not None and profile != self.profile:
            return
        if name not in self.results:
            raise ExpectationFailed(f"expected a result named {name!r}, but it was never recorded")
        value = self.results[name]
        failures = []
        if below is not None and not value < below:
            failures.append(f"< {_show(below)}")
        if above is not None and not value > above:
            failures.append(f"> {_show(above)}")
        if equals is not None and not _close(value, equals, tol):
            failures.append(f"== {_show(equals)}" + (f" (±{_show(tol)})" if tol else ""))
        if isinstance(value, float) and math.isnan(value):
            failures.append("not NaN")
        rule = _describe(below, above, equals, tol)
        self.expectations.append({"name": name, "rule": rule, "value": value, "passed": not failures})
        self._write()
        if failures:
            raise ExpectationFailed(
                f"{self.notebook} [{self.profile}]: expected {name} {' and '.join(failures)}, got {_show(value)}"
            )
        print(f"[ledger] ok: {name} = {_show(value)} ({rule})")

    def _write(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "notebook": self.notebook,
            "profile": self.profile,
            "elapsed_s": round(time.time() - self.started, 2),
            "results": self.results,
            "meta": self.meta,
            "expectations": self.expectations,
        }
        self.path.write_text(json.dumps(payload, indent=2, default=str))


def _show(value, fmt=".4g"):
    return format(value, fmt) if isinstance(value, numbers.Real) and not isinstance(value, bool) else repr(value)


def _close(value, target, tol):
    if isinstance(target, numbers.Real) and isinstance(value, numbers.Real):
        return abs(value - target) <= tol
    return value == target


def _describe(below, above, equals, tol):
    parts = []
    if above is not None:
        parts.append(f"> {_show(above)}")
    if below is not None:
        parts.append(f"< {_show(below)}")
    if equals is not None:
        parts.append(f"== {_show(equals)}" + (f" ±{_show(tol)}" if tol else ""))
    return " and ".join(parts)
