"""Test-suite wide settings: notebooks run in the tiny profile, offline, within a time budget.

nbval turns every notebook cell into a test item. For each notebook we add up the cells' wall
time and read the CPU time of its kernel process (and of the processes the kernel started), print
a runtime table, write it to build/notebook_times.json, and fail the session when a tiny notebook
spends more than NOTEBOOK_BUDGET_S of CPU time. CPU time is the budget because it does not grow
when another notebook shares the machine's cores; wall time does (see CONTRIBUTING.md).
"""
import json
import os
from collections import defaultdict

import pytest

os.environ.setdefault("JOURNEY_PROFILE", "tiny")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each xdist worker runs its own notebook kernel: one math thread each keeps 2 workers from
    # oversubscribing 2 cores (busy-waiting OpenMP threads made notebooks several times slower).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

NOTEBOOK_BUDGET_S = float(os.environ.get("JOURNEY_NOTEBOOK_BUDGET_S", 60))  # CPU seconds, enforced
NOTEBOOK_WARN_S = float(os.environ.get("JOURNEY_NOTEBOOK_WARN_S", 45))      # CPU seconds, a warning
_wall_seconds = defaultdict(float)  # "module../NN_x.ipynb" -> wall seconds summed over its cells
_cpu_seconds = {}                   # "module../NN_x.ipynb" -> CPU seconds of its kernel so far


def _notebook_of(nodeid: str) -> str | None:
    path = nodeid.split("::")[0]
    return path if path.endswith(".ipynb") else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if call.when == "call" and _notebook_of(item.nodeid):
        # nbval keeps one kernel per notebook file on the parent item; its CPU time only grows
        from shared.utils import process_tree_cpu_seconds

        kernel_manager = item.parent.kernel.km
        report.user_properties.append(("kernel_cpu_s", process_tree_cpu_seconds(kernel_manager.provisioner.pid)))


def pytest_runtest_logreport(report):
    path = _notebook_of(report.nodeid)
    if path is None:
        return
    _wall_seconds[path] += report.duration
    for key, value in report.user_properties:
        if key == "kernel_cpu_s":
            _cpu_seconds[path] = max(_cpu_seconds.get(path, 0.0), value)


def _over_budget():
    return sorted(path for path, cpu in _cpu_seconds.items() if cpu > NOTEBOOK_BUDGET_S)


def pytest_terminal_summary(terminalreporter):
    if not _wall_seconds:
        return
    from shared.paths import build_dir

    write = terminalreporter.write_line
    terminalreporter.section(f"notebook runtimes (budget {NOTEBOOK_BUDGET_S:.0f} CPU s each, "
                             f"warning above {NOTEBOOK_WARN_S:.0f})")
    write(f"{'CPU s':>7}  {'wall s':>7}  notebook")
    times = {path: {"cpu_s": round(_cpu_seconds.get(path, float("nan")), 1), "wall_s": round(wall, 1)}
             for path, wall in sorted(_wall_seconds.items())}
    for path, t in sorted(times.items(), key=lambda item: -item[1]["cpu_s"]):
        flag = ("  OVER BUDGET" if t["cpu_s"] > NOTEBOOK_BUDGET_S
                else "  warning: near the budget" if t["cpu_s"] > NOTEBOOK_WARN_S else "")
        write(f"{t['cpu_s']:7.1f}  {t['wall_s']:7.1f}  {path}{flag}", red=bool(flag))
    write(f"{sum(_cpu_seconds.values()):7.1f}  {sum(_wall_seconds.values()):7.1f}  total (summed over workers)")
    if _over_budget():
        write(f"FAILED: {len(_over_budget())} notebook(s) over the {NOTEBOOK_BUDGET_S:.0f} CPU-second budget "
              "of the tiny profile: shrink their tiny config or cache their training (journey assets)", red=True)
    (build_dir() / "notebook_times.json").write_text(json.dumps(times, indent=1))


def pytest_sessionfinish(session, exitstatus):
    if _over_budget() and exitstatus == 0 and not hasattr(session.config, "workerinput"):
        session.exitstatus = 1
