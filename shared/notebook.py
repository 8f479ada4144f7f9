"""`start()`: the first call of every notebook.

    from shared import start
    run = start("module01_nlp_foundations/01_nlp_and_applications.ipynb")

It fixes the seeds, chooses the profile (and prints why), fixes torch's CPU threads in the tiny
profile, prints the library versions so a bug report says what ran, applies the course's figure
style, and opens the notebook's results ledger.
"""
import importlib.metadata
import logging
import os
import platform
from dataclasses import dataclass

import torch

from .ledger import Ledger
from .profile import Profile, active_profile
from .utils import set_seed, use_plot_style

SHOWN_LIBRARIES = ("torch", "transformers", "tokenizers", "datasets", "numpy", "scikit-learn")
# Float sums split across threads round differently, so a CPU run's numbers depend on the thread
# count. The tiny profile uses one thread everywhere (CI, `journey run`, a laptop), so it records
# the same results on every machine with the same kernels; override with JOURNEY_THREADS.
TINY_THREADS = int(os.environ.get("JOURNEY_THREADS", "1"))
# Loading any transformers model imports torchao (module 9's quantization library), which logs
# that its CUDA kernels do not load into a CPU-only torch, and torch's pytree logs a deprecation
# about torchao's enums. Neither says anything to a learner; every other warning stays visible.
QUIET_LOGGERS = ("torchao", "torch.utils._pytree")


@dataclass
class Run:
    notebook: str      # path of the notebook, relative to the repository root
    profile: Profile   # the active profile and why it was chosen
    ledger: Ledger     # where results are recorded and checked
    seed: int

    def record(self, name, value, fmt=".4g", unit=None, published=None):
        return self.ledger.record(name, value, fmt, unit=unit, published=published)

    def expect(self, name, **rule):
        return self.ledger.expect(name, **rule)


def library_versions(names=SHOWN_LIBRARIES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def start(notebook: str, seed: int = 0, libraries=SHOWN_LIBRARIES) -> Run:
    profile = active_profile()
    if profile.name == "tiny":
        # Tiny never needs the hub: make any accidental hub call fail at once, not after ~20 s.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        torch.set_num_threads(TINY_THREADS)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    set_seed(seed)
    use_plot_style()
    versions = "  ".join(f"{k} {v}" for k, v in library_versions(libraries).items())
    print(f"notebook: {notebook}\nprofile:  {profile}\nseed:     {seed}\nthreads:  {torch.get_num_threads()}\n"
          f"versions: {versions}")
    return Run(notebook, profile, Ledger(notebook, profile.name), seed)
