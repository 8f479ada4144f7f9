"""Scoring generated code by running it: pull the code out of a reply, run it with the task's tests
in the sandbox, and estimate pass@k.

    code = extract_code(reply, "python")      # the fenced block, not the prose around it
    result = check(code, task)                # sandbox.Result: passed, error(), ...
    pass_at_k(n=10, c=3, k=1)                 # 0.3: chance that 1 of the 10 samples, drawn at random, passes

Nothing here executes model output itself: every program goes through `sandbox.run_code`.
"""
import functools
import re

import numpy as np

from .sandbox import Limits, Result, run_code

FENCE = re.compile(r"```[ \t]*([\w+#-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)  # an unclosed block runs to the end
LANGUAGE_TAGS = {"python": {"python", "py", "python3"}, "javascript": {"javascript", "js", "node", "nodejs"}}


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from `n` samples of which `c` pass (Chen et al., 2021, Fig. 3):
    1 - C(n-c, k) / C(n, k), the chance that k samples drawn without replacement include a pass,
    computed as a product so that it stays exact for large n."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k} (draw n >= k samples per task)")
    if n - c < k:  # every draw of k samples holds at least one that passes
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(passed: list[list[bool]], k: int) -> float:
    """pass@k averaged over tasks; `passed[i]` holds the outcome of each sample of task i."""
    return float(np.mean([pass_at_k(len(p), sum(p), k) for p in passed]))


def extract_code(reply: str, language: str) -> str:
    """The code in a chat reply: the first fenced block tagged with `language`, else the first
    fenced block, else the whole reply (a model that answers with bare code)."""
    if language not in LANGUAGE_TAGS:
        raise ValueError(f"language must be one of {sorted(LANGUAGE_TAGS)}, not {language!r}")
    blocks = FENCE.findall(reply)                          # [(tag, code), ...]
    tagged = [code for tag, code in blocks if tag.lower() in LANGUAGE_TAGS[language]]
    chosen = tagged or [code for _, code in blocks]
    return (chosen[0] if chosen else reply).strip() + "\n"


def program(code: str, task: dict) -> str:
    """The file the sandbox runs: the task's header (imports), the candidate's code, the task's tests."""
    return task.get("header", "") + code.rstrip() + "\n\n\n" + task["tests"]


@functools.lru_cache(maxsize=4096)
def _run(text: str, language: str, limits: Limits) -> Result:
    return run_code(text, language, limits)


CHECK_LIMITS = Limits(timeout_s=3.0)  # the tasks' tests finish in milliseconds


def check(code: str, task: dict, limits: Limits = CHECK_LIMITS) -> Result:
    """Run `code` against `task["tests"]` in the sandbox. The same program is run once per process
    (samples often repeat: a result is a pure function of the program under the limits)."""
    return _run(program(code, task), task["language"], limits)
