"""Test-suite wide settings: notebooks run in the tiny profile, offline, within a time budget.

nbval turns every notebook cell into a test item; here we add up the cells' durations per
notebook, print a runtime table, write it to build/notebook_times.json, and fail the session
when a tiny notebook takes longer than NOTEBOOK_BUDGET_S.
"""
import json
import os
from collections import defaultdict

os.environ.setdefault("JOURNEY_PROFILE", "tiny")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each xdist worker runs its own notebook kernel: one math thread each keeps 2 workers from
    # oversubscribing 2 cores (busy-waiting OpenMP threads made notebooks several times slower).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

NOTEBOOK_BUDGET_S = float(os.environ.get("JOURNEY_NOTEBOOK_BUDGET_S", 60))
_notebook_seconds = defaultdict(float)  # "module../NN_x.ipynb" -> seconds over all its cells


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def _over_budget():
    return {path: s for path, s in _notebook_seconds.items() if s > NOTEBOOK_BUDGET_S}


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    from shared.paths import build_dir

    terminalreporter.section(f"notebook runtimes (budget {NOTEBOOK_BUDGET_S:.0f} s each)")
    for path, seconds in sorted(_notebook_seconds.items()):
        flag = "  OVER BUDGET" if seconds > NOTEBOOK_BUDGET_S else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")
    terminalreporter.write_line(f"{sum(_notebook_seconds.values()):7.1f} s  total (summed over workers)")
    if _over_budget():
        terminalreporter.write_line(f"FAILED: {len(_over_budget())} notebook(s) over the {NOTEBOOK_BUDGET_S:.0f} s budget "
                                    "of the tiny profile: shrink their tiny config", red=True)
    (build_dir() / "notebook_times.json").write_text(json.dumps(dict(sorted(_notebook_seconds.items())), indent=1))


def pytest_sessionfinish(session, exitstatus):
    if _over_budget() and exitstatus == 0 and not hasattr(session.config, "workerinput"):
        session.exitstatus = 1
