"""A CI/CD pipeline for the module 10 LLM service, run for real on this machine.

    lint -> unit tests -> quality gate -> build -> deploy to staging -> smoke test -> promote (blue/green)

- Every stage that does work runs as a subprocess (`ruff`, `pytest`, `python -m shared.ops.evaluate`,
  `pip wheel`, `python -m shared.serve`); the smoke test and the promotion talk HTTP to real processes.
- A `Release` is what changes between runs: the model and how its weights are stored.
- The quality gate scores the release's model as the server would load it and compares it with the
  baseline recorded when the live release was promoted (`shared.ops.gate`).
- Staging is the idle colour of a blue/green pair behind `shared.ops.router`; promotion flips the
  router to it, checks the live traffic path, and flips back by itself if that check fails.
- The pipeline stops at the first failed stage; a staging server that failed is stopped, so the live
  release never changes unless every stage passed.

`python -m shared.ops.pipeline STAGE ...` runs single stages, which is what the GitHub Actions
workflow of module 12 calls (one job per stage).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .gate import GateResult, quality_gate, read_baseline, write_baseline

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("lint", "unit_tests", "quality_gate", "build", "deploy_staging", "smoke_test", "promote")
COLORS = ("blue", "green")


@dataclass(frozen=True)
class Release:
    """One version of the service: which model, and how its weights are stored."""
    version: str
    model: str | None = None             # hub id or local folder; None: the profile's default model
    weight_bits: int | None = None       # round linear weights to this many bits (None: as stored)
    weight_group_size: int | None = None  # weights per quantization scale (None: one per row)
    note: str = ""                       # what changed, for the release history

    def server_options(self) -> dict:
        return {"model": self.model, "weight_bits": self.weight_bits, "weight_group_size": self.weight_group_size}

    def cli_args(self) -> list[str]:
        return [arg for key, value in self.server_options().items() if value is not None
                for arg in (f"--{key.replace('_', '-')}", str(value))]

    @classmethod
    def from_json(cls, path: str | Path) -> Release:
        return cls(**json.loads(Path(path).read_text()))


@dataclass
class StageResult:
    stage: str
    status: str             # "passed", "failed" or "skipped"
    seconds: float = 0.0    # wall time of the stage
    detail: str = ""        # one line for the table
    command: str = ""       # the subprocess it ran, if any
    output: str = ""        # the tail of that subprocess's output


@dataclass
class PipelineConfig:
    root: Path = ROOT                    # the repository the pipeline checks and builds
    workdir: Path = ROOT / "build" / "cicd"   # baseline, evaluations, wheels, logs, router state
    lint_paths: tuple[str, ...] = ("shared/serve", "shared/ops")
    lint_select: str = "E4,E7,E9,F"      # pinned rules: ruff's classic defaults (newer ruffs select more)
    test_paths: tuple[str, ...] = ("tests/test_ops_gate.py", "tests/test_ops_pipeline.py")
    build_paths: tuple[str, ...] = ("shared", "pyproject.toml", "module12_advanced/Dockerfile")
    dockerfile: Path = ROOT / "module12_advanced" / "Dockerfile"
    eval_docs: int = 3                   # held-out news articles the gate scores
    eval_max_length: int = 128           # tokens per article
    tolerance: dict = field(default_factory=lambda: {"perplexity": 1.0, "next_token_accuracy": 0.02})
    higher_is_better: dict = field(default_factory=lambda: {"perplexity": False, "next_token_accuracy": True})
    smoke_prompt: str = "What is the capital of France?"
    smoke_expect: str = "Paris"          # the smoke test's reply must contain this
    smoke_max_tokens: int = 8
    smoke_max_latency_s: float = 30.0
    server_wait_s: float = 180.0


CACHED_STAGES = {"lint": ("lint_paths",), "unit_tests": ("lint_paths", "test_paths"), "build": ("build_paths",)}


def tree_hash(root: Path, paths) -> str:
    """SHA-256 over the files under `paths` (names and contents): the key of a stage's cached result."""
    digest = hashlib.sha256()
    for top in sorted(paths):
        files = [root / top] if (root / top).is_file() else sorted((root / top).rglob("*"))
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def _env() -> dict:
    from ..profile import active_profile

    return {**os.environ, "JOURNEY_PROFILE": active_profile().name, "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def run_command(stage: str, args: list[str], cwd: Path, ok_detail: str, timeout: float = 900,
                env: dict | None = None) -> StageResult:
    """Run one stage's subprocess (with `env` added to the environment); passed iff it exits with 0."""
    start = time.perf_counter()
    try:
        done = subprocess.run(args, check=False, cwd=cwd, env={**_env(), **(env or {})}, capture_output=True, text=True, timeout=timeout)
        output, code = (done.stdout + done.stderr).strip(), done.returncode
    except subprocess.TimeoutExpired:
        output, code = f"timed out after {timeout} s", -1
    tail = "\n".join(output.splitlines()[-15:])
    command = " ".join(Path(a).name if a == sys.executable else a for a in args)
    status = "passed" if code == 0 else "failed"
    detail = ok_detail if code == 0 else f"exit {code}: {output.splitlines()[-1] if output else ''}"
    return StageResult(stage, status, time.perf_counter() - start, detail, command, tail)


# --- the Dockerfile's sanity check (no Docker here: hadolint's main rules, by hand) --------------

def lint_dockerfile(text: str) -> list[str]:
    """Problems that break or weaken a service image; [] when none. Checks: a pinned base image (no
    `latest`, no untagged FROM), a non-root USER, an EXPOSEd port, a HEALTHCHECK, and CMD/ENTRYPOINT in
    exec form (JSON list: the server gets SIGTERM, not the shell); ADD only for archives."""
    lines, joined = [], ""
    for raw in text.splitlines():  # join continuation lines
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        joined += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            lines.append(joined)
            joined = ""
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]
    names = [name for name, _ in instructions]
    problems = []
    if not names or names[0] not in ("FROM", "ARG"):
        problems.append("the first instruction must be FROM")
    for name, argument in instructions:
        if name == "FROM":
            image = argument.split()[0]
            if ":" not in image.split("/")[-1] and "@" not in image:
                problems.append(f"FROM {image}: pin a tag (e.g. python:3.11-slim), not the moving default")
            elif image.endswith(":latest"):
                problems.append(f"FROM {image}: 'latest' moves; pin a version")
        if name in ("CMD", "ENTRYPOINT") and not argument.lstrip().startswith("["):
            problems.append(f"{name} {argument}: use the exec form [\"...\"] so the server receives SIGTERM")
        if name == "ADD" and not any(argument.split()[0].endswith(ext) for ext in (".tar", ".tar.gz", ".tgz")):
            problems.append(f"ADD {argument}: use COPY for plain files")
    users = [argument.strip() for name, argument in instructions if name == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("no USER: the service would run as root")
    for required in ("EXPOSE", "HEALTHCHECK"):
        if required not in names:
            problems.append(f"no {required}")
    if "CMD" not in names and "ENTRYPOINT" not in names:
        problems.append("no CMD or ENTRYPOINT: the image does not start the service")
    return problems


# --- blue/green: the router process and the server behind each colour ----------------------------

class BlueGreen:
    """The router (a process) and the server processes behind its two colours."""

    def __init__(self, router, url: str):
        self.router, self.url = router, url
        self.servers: dict = {}    # colour -> shared.serve.Server
        self.releases: dict = {}   # colour -> Release

    def state(self) -> dict:
        import httpx

        return httpx.get(self.url + "/_router", timeout=10).json()

    @property
    def live(self) -> str | None:
        return self.state()["live"]

    @property
    def idle(self) -> str:
        return "green" if self.live == "blue" else "blue"

    def attach(self, color: str, server, release: Release) -> None:
        import httpx

        old = self.servers.get(color)
        if old is not None and old is not server:
            old.stop()
        self.servers[color], self.releases[color] = server, release
        httpx.post(self.url + "/_router/upstream", json={"color": color, "url": server.url,
                                                         "version": release.version}, timeout=10).raise_for_status()

    def switch(self, color: str) -> dict:
        import httpx

        reply = httpx.post(self.url + "/_router/switch", json={"color": color}, timeout=30)
        if reply.status_code != 200:
            raise RuntimeError(f"the router refused to switch to {color}: {reply.text}")
        return reply.json()

    def stop(self, color: str) -> None:
        server = self.servers.pop(color, None)
        self.releases.pop(color, None)
        if server is not None:
            server.stop()

    def close(self) -> None:
        for color in list(self.servers):
            self.stop(color)
        if self.router.poll() is None:
            self.router.terminate()
            self.router.wait(10)


def start_router(workdir: Path, port: int | None = None, wait_s: float = 30) -> BlueGreen:
    """Start `python -m shared.ops.router` (state in workdir/router.json) and wait until it answers."""
    import httpx

    from ..serve.server import free_port

    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = (workdir / "router.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "shared.ops.router", "--port", str(port),
                                "--state", str(workdir / "router.json")], env=_env(), stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the router exited with {process.returncode}: see {workdir / 'router.log'}")
        try:
            httpx.get(url + "/_router", timeout=1)
            return BlueGreen(process, url)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"the router did not answer within {wait_s} s")


def deploy(release: Release, config: PipelineConfig):
    """Start a server process for `release` (the module 10 server) and wait for /health."""
    from ..serve.server import start_server

    return start_server(wait_s=config.server_wait_s, **release.server_options())


# --- the pipeline ----------------------------------------------------------------------------------

@dataclass
class PipelineRun:
    release: Release
    stages: list[StageResult]
    promoted: bool
    gate: GateResult | None = None
    live: str | None = None     # the live colour after the run

    def rows(self) -> list[dict]:
        return [{"stage": s.stage, "status": s.status, "seconds": round(s.seconds, 1), "detail": s.detail}
                for s in self.stages]

    @property
    def stopped_at(self) -> str | None:
        return next((s.stage for s in self.stages if s.status == "failed"), None)


class Pipeline:
    """The stages, in order, against a BlueGreen pair; `run(release)` is one pipeline run."""

    def __init__(self, config: PipelineConfig, bluegreen: BlueGreen):
        self.config, self.bluegreen = config, bluegreen
        config.workdir.mkdir(parents=True, exist_ok=True)
        self.history: list[dict] = []
        self.cache: dict[tuple[str, str], StageResult] = {}  # (stage, tree hash) -> a passed result

    @property
    def baseline_path(self) -> Path:
        return self.config.workdir / "baseline.json"

    # each stage returns a StageResult; `self._staging` carries the staging server between stages
    def lint(self, release: Release) -> StageResult:
        args = [sys.executable, "-m", "ruff", "check", "--select", self.config.lint_select, *self.config.lint_paths]
        return run_command("lint", args, self.config.root, f"ruff: {' '.join(self.config.lint_paths)} clean")

    def unit_tests(self, release: Release) -> StageResult:
        args = [sys.executable, "-m", "pytest", "-q", "--color=no", "-p", "no:cacheprovider", *self.config.test_paths]
        # only pytest's own plugins: the installed ones (nbval, xdist, hypothesis, playwright, ...) cost a
        # second or two to import and these tests need none of them
        result = run_command("unit_tests", args, self.config.root, "", env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
        summary = next((line for line in reversed(result.output.splitlines()) if " in " in line), "")
        result.detail = summary.strip("= ") if result.status == "passed" else result.detail
        return result

    def start_evaluator(self, model: str | None = None) -> None:
        """Start a warm evaluation process (`python -m shared.ops.evaluate --worker`) that keeps `model`
        loaded; the gate then sends it one job per release instead of starting a process per release."""
        args = [sys.executable, "-m", "shared.ops.evaluate", "--worker", "--docs", str(self.config.eval_docs),
                "--max-length", str(self.config.eval_max_length), *(["--model", model] if model else [])]
        log = (self.config.workdir / "evaluator.log").open("w")
        self.evaluator = subprocess.Popen(args, cwd=self.config.root, env=_env(), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=log, text=True)
        ready = self.evaluator.stdout.readline()
        if not ready:
            raise RuntimeError(f"the evaluator exited: see {self.config.workdir / 'evaluator.log'}")
        self._evaluator_model = model

    def close(self) -> None:
        """Stop the evaluator (if any) and the blue/green pair."""
        if getattr(self, "evaluator", None) is not None:
            self.evaluator.stdin.close()
            self.evaluator.wait(30)
            self.evaluator = None
        self.bluegreen.close()

    def evaluate(self, release: Release, out: Path) -> tuple[StageResult, dict | None]:
        worker = getattr(self, "evaluator", None)
        if worker is not None and worker.poll() is None and release.model == self._evaluator_model:
            start = time.perf_counter()
            worker.stdin.write(json.dumps({"weight_bits": release.weight_bits,
                                           "weight_group_size": release.weight_group_size}) + "\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
            if not line:
                return StageResult("quality_gate", "failed", time.perf_counter() - start,
                                   f"the evaluator died: see {self.config.workdir / 'evaluator.log'}"), None
            evaluation = json.loads(line)
            out.write_text(json.dumps(evaluation, indent=2))
            return StageResult("quality_gate", "passed", time.perf_counter() - start, "evaluated",
                               f"evaluator pid {worker.pid}: {release.cli_args()}"), evaluation
        args = [sys.executable, "-m", "shared.ops.evaluate", "--out", str(out), "--docs", str(self.config.eval_docs),
                "--max-length", str(self.config.eval_max_length), *release.cli_args()]
        result = run_command("quality_gate", args, self.config.root, "evaluated")
        return result, (json.loads(out.read_text()) if result.status == "passed" else None)

    def quality_gate(self, release: Release) -> StageResult:
        if not self._first_release and not self.baseline_path.exists():
            return StageResult("quality_gate", "failed", 0.0, f"no baseline at {self.baseline_path}: run the "
                               "first release with first_release=True")
        result, evaluation = self.evaluate(release, self.config.workdir / f"eval-{release.version}.json")
        if evaluation is None:
            return result
        self._candidate_metrics = evaluation["metrics"]
        if self._first_release and not self.baseline_path.exists():
            result.detail = "first release: nothing to compare with; its evaluation becomes the baseline"
            return result
        self._gate = quality_gate(evaluation["metrics"], read_baseline(self.baseline_path),
                                  self.config.tolerance, self.config.higher_is_better)
        result.status = "passed" if self._gate.passed else "failed"
        result.detail = ", ".join(f"{c.name} {c.baseline:.4g} -> {c.candidate:.4g}" for c in self._gate.checks)
        if not self._gate.passed:
            result.detail += "; " + "; ".join(self._gate.reasons)
        return result

    def build(self, release: Release) -> StageResult:
        dist = self.config.workdir / "dist"
        args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                "-w", str(dist), str(self.config.root)]
        result = run_command("build", args, self.config.root, "")
        if result.status == "passed":
            wheels = sorted(p.name for p in dist.glob("*.whl"))
            problems = lint_dockerfile(self.config.dockerfile.read_text())
            result.detail = f"{', '.join(wheels)}; Dockerfile: " + ("ok" if not problems else "; ".join(problems))
            if problems or not wheels:
                result.status = "failed"
        return result

    def deploy_staging(self, release: Release) -> StageResult:
        start = time.perf_counter()
        color = self.bluegreen.idle
        self.bluegreen.stop(color)  # the previous release on the idle colour makes room
        try:
            server = deploy(release, self.config)
        except (RuntimeError, TimeoutError) as e:
            return StageResult("deploy_staging", "failed", time.perf_counter() - start, str(e).splitlines()[0])
        self.bluegreen.attach(color, server, release)
        self._staging = color
        return StageResult("deploy_staging", "passed", time.perf_counter() - start,
                           f"{color} = {release.version} at {server.url} (pid {server.process.pid})",
                           "python -m shared.serve " + " ".join(release.cli_args()))

    def smoke_test(self, release: Release, url: str | None = None) -> StageResult:
        return smoke_test(url or self.bluegreen.servers[self._staging].url, self.config)

    def promote(self, release: Release) -> StageResult:
        """Flip the router to the staging colour, check the live path, roll back by itself on failure."""
        import httpx

        start = time.perf_counter()
        before, color = self.bluegreen.live, self._staging
        self.bluegreen.switch(color)
        check = smoke_test(self.bluegreen.url, self.config, expect_color=color)
        if check.status != "passed":
            if before:
                self.bluegreen.switch(before)
            return StageResult("promote", "failed", time.perf_counter() - start,
                               f"live check through the router failed ({check.detail}); rolled back to {before}")
        write_baseline(self.baseline_path, self._candidate_metrics, version=release.version)
        served_by = httpx.get(self.bluegreen.url + "/v1/models", timeout=10).headers.get("X-Served-By")
        return StageResult("promote", "passed", time.perf_counter() - start,
                           f"router {before} -> {color} (answers from {served_by}); baseline := {release.version}")

    def _run_stage(self, stage: str, release: Release) -> StageResult:
        """Run one stage; lint, unit tests and the build depend only on the code, so a passed result is
        reused while the files they read are unchanged (what CI caches keyed by a hash of the inputs do)."""
        if stage not in CACHED_STAGES:
            return getattr(self, stage)(release)
        paths = sorted({p for field_name in CACHED_STAGES[stage] for p in getattr(self.config, field_name)})
        key = (stage, tree_hash(self.config.root, paths))
        if key in self.cache:
            done = self.cache[key]
            return StageResult(stage, "passed", 0.0, f"cached (inputs unchanged): {done.detail}", done.command)
        result = getattr(self, stage)(release)
        if result.status == "passed":
            self.cache[key] = result
        return result

    def run(self, release: Release, first_release: bool = False) -> PipelineRun:
        """All stages for `release`, stopping at the first failure. `first_release=True` lets a release go
        live with no recorded baseline (its evaluation becomes the baseline)."""
        self._staging, self._gate, self._candidate_metrics = None, None, None
        self._first_release = first_release
        results = []
        for stage in STAGES:
            if results and results[-1].status != "passed":
                results.append(StageResult(stage, "skipped"))
                continue
            results.append(self._run_stage(stage, release))
        promoted = results[-1].status == "passed"
        if not promoted and self._staging and self.bluegreen.live != self._staging:
            self.bluegreen.stop(self._staging)  # a failed staging release does not keep running
        run = PipelineRun(release, results, promoted, self._gate, self.bluegreen.live)
        self.history.append({"version": release.version, "note": release.note, "promoted": promoted,
                             "stopped_at": run.stopped_at, "live": run.live})
        return run


def smoke_test(url: str, config: PipelineConfig, expect_color: str | None = None) -> StageResult:
    """A few real requests: /health, /v1/models, one greedy chat completion whose reply must contain
    `config.smoke_expect` within `config.smoke_max_latency_s`, and /metrics counting it."""
    import httpx

    start = time.perf_counter()

    def fail(why):
        return StageResult("smoke_test", "failed", time.perf_counter() - start, why)
    try:
        health = httpx.get(url + "/health", timeout=10)
        if health.status_code != 200:
            return fail(f"/health answered {health.status_code}")
        if expect_color and health.headers.get("X-Served-By") != expect_color:
            return fail(f"served by {health.headers.get('X-Served-By')}, not {expect_color}")
        model = httpx.get(url + "/v1/models", timeout=10).json()["data"][0]["id"]
        t0 = time.perf_counter()
        reply = httpx.post(url + "/v1/chat/completions", timeout=config.smoke_max_latency_s, json={
            "model": model, "messages": [{"role": "user", "content": config.smoke_prompt}],
            "max_tokens": config.smoke_max_tokens, "temperature": 0})
        latency = time.perf_counter() - t0
        if reply.status_code != 200:
            return fail(f"chat completion answered {reply.status_code}: {reply.text[:200]}")
        text = reply.json()["choices"][0]["message"]["content"]
        if config.smoke_expect.lower() not in text.lower():
            return fail(f"reply {text!r} does not contain {config.smoke_expect!r}")
        metrics = httpx.get(url + "/metrics", timeout=10).text
        if 'llm_requests_total{status="200"}' not in metrics:
            return fail("/metrics does not count the request")
    except (httpx.HTTPError, KeyError, ValueError) as e:
        return fail(f"{type(e).__name__}: {e}")
    return StageResult("smoke_test", "passed", time.perf_counter() - start,
                       f"{text!r} in {latency:.2f} s; /health, /v1/models, /metrics ok")


def deploy_detached(release: Release, color: str, router: str, config: PipelineConfig) -> int:
    """Start the release's server for `color` in a session of its own, so that it outlives the CI job
    (GitHub's runner kills a job's processes unless RUNNER_TRACKING_ID is cleared), stop the server
    that colour ran before, and register the new one with the router (still idle: promote flips)."""
    import signal

    import httpx

    from ..serve.server import free_port

    pid_file = config.workdir / f"{color}.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGINT)  # graceful: in-flight requests finish
        except (ProcessLookupError, ValueError):
            pass
    port = free_port()
    args = [sys.executable, "-m", "shared.serve", "--port", str(port), "--log-level", "warning", *release.cli_args()]
    log = (config.workdir / f"{color}.log").open("w")
    process = subprocess.Popen(args, env={**_env(), "RUNNER_TRACKING_ID": ""}, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(process.pid))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + config.server_wait_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                httpx.post(router + "/_router/upstream", json={"color": color, "url": url, "version": release.version},
                           timeout=10).raise_for_status()
                print(f"{release.version} serves on {url} as {color} (pid {process.pid}); promote to make it live")
                return 0
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    print(f"the server for {release.version} did not come up: see {config.workdir / f'{color}.log'}")
    return 1


# --- `python -m shared.ops.pipeline STAGE`: the stages one by one, for a CI system -----------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.ops.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["gate", "record-baseline", "dockerfile", "deploy-smoke", "deploy-idle",
                                          "promote"])
    parser.add_argument("--release", type=Path, help="release JSON: {\"version\": ..., \"weight_bits\": ...}")
    parser.add_argument("--baseline", type=Path, help="the recorded baseline JSON (gate reads it, record-baseline "
                                                       "and promote write it)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "cicd")
    parser.add_argument("--router", help="the blue/green router's URL (promote)")
    parser.add_argument("--dockerfile", type=Path, default=PipelineConfig.dockerfile)
    args = parser.parse_args(argv)
    config = PipelineConfig(workdir=args.workdir, dockerfile=args.dockerfile)
    if args.stage == "dockerfile":
        problems = lint_dockerfile(args.dockerfile.read_text())
        print("\n".join(problems) or f"{args.dockerfile}: ok")
        return 1 if problems else 0
    if not args.release:
        parser.error(f"{args.stage} needs --release")
    release = Release.from_json(args.release)
    pipeline = Pipeline.__new__(Pipeline)  # no router needed for these stages
    pipeline.config, pipeline.bluegreen = config, None
    config.workdir.mkdir(parents=True, exist_ok=True)
    if args.stage in ("gate", "record-baseline"):
        result, evaluation = pipeline.evaluate(release, config.workdir / f"eval-{release.version}.json")
        if evaluation is None:
            print(result.output)
            return 1
        if args.stage == "record-baseline":
            write_baseline(args.baseline, evaluation["metrics"], version=release.version)
            print(f"baseline {evaluation['metrics']} written to {args.baseline}")
            return 0
        gate = quality_gate(evaluation["metrics"], read_baseline(args.baseline), config.tolerance,
                            config.higher_is_better)
        print(gate.summary())
        return 0 if gate.passed else 1
    if args.stage == "deploy-smoke":
        server = deploy(release, config)
        try:
            result = smoke_test(server.url, config)
        finally:
            server.stop()
        print(f"smoke test {result.status}: {result.detail}")
        return 0 if result.status == "passed" else 1
    # deploy-idle / promote run on the serving host (a self-hosted runner), next to the router
    if not args.router:
        parser.error(f"{args.stage} needs --router URL")
    import httpx

    state = httpx.get(args.router + "/_router", timeout=10).json()
    color = "green" if state["live"] == "blue" else "blue"
    if args.stage == "deploy-idle":
        return deploy_detached(release, color, args.router, config)
    if state["versions"].get(color) != release.version:
        print(f"the idle colour {color} serves {state['versions'].get(color)}, not {release.version}: deploy it first")
        return 1
    bluegreen = BlueGreen(None, args.router)
    bluegreen.switch(color)
    check = smoke_test(args.router, config, expect_color=color)
    if check.status != "passed":
        bluegreen.switch(state["live"])
        print(f"live check failed ({check.detail}): rolled back to {state['live']}")
        return 1
    print(f"promoted {release.version}: router {state['live']} -> {color}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
