"""A model quality gate: a candidate's evaluation must not regress against a recorded baseline.

A CI pipeline runs the gate after the unit tests: every metric of the baseline is compared with
the candidate's, and the candidate passes only if no metric got worse by more than its tolerance.
"Worse" depends on the metric: lower perplexity is better, higher accuracy is better.

    >>> r = quality_gate({"ppl": 12.4}, {"ppl": 12.0}, tolerance={"ppl": 0.5}, higher_is_better={"ppl": False})
    >>> r.passed, r.deltas
    (True, {'ppl': 0.4...})
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class MetricCheck:
    """One metric's comparison: `delta` = candidate - baseline, `regression` = how much worse (>= 0 is worse)."""
    name: str
    baseline: float
    candidate: float
    delta: float
    regression: float
    tolerance: float
    higher_is_better: bool
    passed: bool


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: `passed`, per-metric `deltas` (candidate - baseline) and `reasons` for a failure."""
    passed: bool
    deltas: dict[str, float]
    reasons: list[str]
    checks: list[MetricCheck] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def rows(self) -> list[dict]:
        """One dict per metric, e.g. for `pandas.DataFrame(result.rows())`."""
        return [asdict(c) for c in self.checks]

    def summary(self) -> str:
        lines = [f"quality gate: {'PASSED' if self.passed else 'FAILED'}"]
        for c in self.checks:
            arrow = "higher is better" if c.higher_is_better else "lower is better"
            lines.append(f"  {c.name:<16} baseline {c.baseline:10.4f}  candidate {c.candidate:10.4f}  "
                         f"delta {c.delta:+.4f}  tolerance {c.tolerance:.4f}  ({arrow})  "
                         f"{'ok' if c.passed else 'REGRESSED'}")
        lines += [f"  reason: {r}" for r in self.reasons]
        return "\n".join(lines)


def _per_metric(value, names, what: str) -> dict:
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            raise ValueError(f"{what} has no entry for {missing}: give one per baseline metric "
                             f"(or a single value for all)")
        return {n: value[n] for n in names}
    return {n: value for n in names}


def quality_gate(candidate: dict[str, float], baseline: dict[str, float],
                 tolerance: dict[str, float] | float,
                 higher_is_better: dict[str, bool] | bool = True) -> GateResult:
    """Compare `candidate` with `baseline`, metric by metric, in the baseline's order.

    - `tolerance`: the largest allowed regression (absolute, in the metric's units), per metric or one
      for all; it must be >= 0.
    - `higher_is_better`: per metric or one for all (True for accuracy, False for loss/perplexity).
    A metric of the baseline that the candidate lacks, or a NaN/inf candidate value, fails the gate.
    Extra candidate metrics are ignored (they have no baseline yet).
    """
    if not baseline:
        raise ValueError("the baseline is empty: record the current model's evaluation first")
    names = list(baseline)
    tol = _per_metric(tolerance, names, "tolerance")
    hib = _per_metric(higher_is_better, names, "higher_is_better")
    for n, t in tol.items():
        if not (isinstance(t, (int, float)) and t >= 0 and math.isfinite(t)):
            raise ValueError(f"tolerance for {n!r} must be a finite number >= 0, got {t!r}")
    checks, reasons, deltas = [], [], {}
    for n in names:
        base = float(baseline[n])
        if n not in candidate:
            reasons.append(f"{n}: missing from the candidate's evaluation")
            continue
        cand = float(candidate[n])
        delta = cand - base
        regression = -delta if hib[n] else delta
        ok = math.isfinite(cand) and regression <= tol[n] + 1e-12
        deltas[n] = delta
        checks.append(MetricCheck(n, base, cand, delta, regression, float(tol[n]), bool(hib[n]), ok))
        if not math.isfinite(cand):
            reasons.append(f"{n}: candidate value is {cand}")
        elif not ok:
            direction = "fell" if hib[n] else "rose"
            reasons.append(f"{n} {direction} from {base:.4g} to {cand:.4g} "
                           f"(worse by {regression:.4g}, tolerance {tol[n]:.4g})")
    return GateResult(passed=not reasons, deltas=deltas, reasons=reasons, checks=checks)


def write_baseline(path: str | Path, metrics: dict[str, float], **meta) -> Path:
    """Record an evaluation as the baseline (JSON: {"metrics": {...}, **meta})."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": {k: float(v) for k, v in metrics.items()}, **meta}, indent=2))
    return path


def read_baseline(path: str | Path) -> dict[str, float]:
    """The metrics of a baseline written by `write_baseline`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no baseline at {path}: run the evaluation on the current model and "
                                f"save it with write_baseline() first")
    return {k: float(v) for k, v in json.loads(path.read_text())["metrics"].items()}
