"""Small helpers every notebook uses: seeds, device, timing, memory, figures, progress bars."""
import os
import random
import resource
import sys
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm  # noqa: F401  (re-exported: `from shared.utils import tqdm`)


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask torch for deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def get_device(prefer: str | None = None) -> str:
    """'cuda' when a GPU is present (or `prefer` says so), else 'cpu'."""
    import torch

    if prefer:
        return prefer
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Measurement:
    seconds: float = 0.0       # wall time
    cpu_seconds: float = 0.0   # CPU time of this process, all threads: steadier than wall time on a shared machine
    peak_bytes: int = 0        # peak memory allocated inside the block (see `measure`)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


@contextmanager
def measure(device: str = "cpu", track_memory: bool = True):
    """Time a block and its peak memory.

    On CUDA the peak comes from the allocator; on CPU from `tracemalloc`, which sees Python and
    NumPy allocations but not torch's CPU tensors (for those, compare `process_peak_rss_mb` of
    separate processes).

        with measure() as m:
            work()
        print(m.seconds, m.cpu_seconds, m.peak_mb)
    """
    import torch

    result = Measurement()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    elif track_memory:
        tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        yield result
    finally:
        if cuda:
            torch.cuda.synchronize()
            result.peak_bytes = torch.cuda.max_memory_allocated()
        elif track_memory:
            result.peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        result.seconds = time.perf_counter() - start
        result.cpu_seconds = time.process_time() - cpu_start


def best_seconds(workloads: dict, device: str = "cpu", repeats: int = 10) -> dict:
    """Best time of each workload (a function of no arguments), for comparing their speed.

    The workloads run in turns (a, b, c, a, b, c, ...) after one warm-up call each, so a change in
    the machine's load hits all of them alike, and the best of `repeats` runs drops the runs that
    another process slowed down. On CPU the time is this process's CPU time, which does not count
    the time spent waiting for a core; on CUDA it is wall time after a synchronize.
    """
    for work in workloads.values():
        work()
    best = {name: float("inf") for name in workloads}
    for _ in range(repeats):
        for name, work in workloads.items():
            with measure(device, track_memory=False) as m:
                work()
            seconds = m.seconds if device.startswith("cuda") else m.cpu_seconds
            best[name] = min(best[name], seconds)
    return best


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, of its children that ended, and of those still running:
    what a notebook's kernel (and the servers or workers it started) has used so far."""
    import psutil

    process = psutil.Process(pid)
    total = sum(process.cpu_times()[:4])  # user, system, children_user, children_system
    for child in process.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:  # ended between listing and reading
            pass
    return total


def process_peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def use_plot_style() -> None:
    """One look for every figure in the course."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (7, 4),
        "figure.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titleweight": "bold",
        "font.size": 10,
        "legend.frameon": False,
    })
