"""Run locust (a real load generator) headless against a server, in its own process, in stages.

    run = start_locust(url, model, stages=[(5, 2), (15, 8)], prompts=PROMPTS, max_tokens=8)
    stats = run.wait()   # locust's own totals: requests, failures by status, client-side percentiles

The user script is `shared/serve/locustfile.py`; locust writes its CSV reports under a temporary folder.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass
class LocustRun:
    process: subprocess.Popen
    prefix: Path          # locust's --csv prefix: {prefix}_stats.csv, {prefix}_failures.csv
    log: Path
    started: float        # time.perf_counter() at launch

    def wait(self, timeout: float = 600) -> dict:
        """Wait for the run to end; locust's aggregated numbers as seen by the clients."""
        self.process.wait(timeout)
        if self.process.returncode != 0:
            raise RuntimeError(f"locust exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        with open(f"{self.prefix}_stats.csv") as f:
            row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
        with open(f"{self.prefix}_failures.csv") as f:
            failures = {r["Error"]: int(r["Occurrences"]) for r in csv.DictReader(f)}
        return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "failures_by_error": failures, "p50_s": float(row["50%"]) / 1000, "p99_s": float(row["99%"]) / 1000,
                "requests_per_s": float(row["Requests/s"]), "wall_s": time.perf_counter() - self.started}


def start_locust(url: str, model: str, stages: list[tuple[float, int]], prompts: list[str], max_tokens: int = 8,
                 wait_s: float = 0.1, system: str | None = None) -> LocustRun:
    """Start `locust --headless` with the stages [(end_s, users), ...] of `locustfile.Stages`; returns at once."""
    folder = Path(tempfile.mkdtemp(prefix="journey-locust-"))
    env = {**os.environ, "JOURNEY_MODEL": model, "JOURNEY_STAGES": json.dumps([list(s) for s in stages]),
           "JOURNEY_PROMPTS": json.dumps(prompts), "JOURNEY_MAX_TOKENS": str(max_tokens), "JOURNEY_WAIT_S": str(wait_s),
           **({"JOURNEY_SYSTEM": system} if system else {})}
    args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", url,
            "--csv", str(folder / "locust"), "--loglevel", "WARNING", "--only-summary", "--exit-code-on-error", "0"]
    log = folder / "locust.log"
    process = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=folder)
    return LocustRun(process, folder / "locust", log, time.perf_counter())
