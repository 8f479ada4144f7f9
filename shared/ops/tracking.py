"""Experiment tracking with MLflow: a real tracking server on this machine, and what to log with a run.

    server = start_mlflow_server(folder)      # `mlflow server`, sqlite store, artifacts in folder
    mlflow.set_tracking_uri(server.url)       # every call below goes over MLflow's REST API
    ...
    server.stop()

The server runs `mlflow server --backend-store-uri sqlite:///... --artifacts-destination ...
--host 127.0.0.1 --workers 1` as a child process. MLflow 3's background job runner (used by its
GenAI features) is switched off with MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false: it would start more
processes that a training sweep does not need.
"""
import os
import platform
import subprocess
import sys
from pathlib import Path

from ..serve.server import Server, free_port


def start_mlflow_server(folder: str | Path, port: int | None = None, wait_s: float = 240) -> Server:
    """Start `mlflow server` with a sqlite store and local artifacts under `folder`; wait for /health."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"]
    log = folder / "server.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    process = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=folder)
    return Server(f"http://127.0.0.1:{port}", process, log).wait_healthy(wait_s, "mlflow server")


def environment() -> dict:
    """What a run needs to be reproduced: interpreter, platform, library versions, the code's commit."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "numpy", "mlflow", "transformers", "llm-journey"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    try:
        root = Path(__file__).resolve().parents[2]
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=False).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "packages": versions, "git_commit": commit,
            "journey_profile": os.environ.get("JOURNEY_PROFILE")}


def screenshot(url: str, path: str | Path, texts: list[str], width: int = 1280, height: int = 640,
               timeout_s: float = 120) -> dict[str, bool]:
    """Open `url` in headless chromium (Debian's, driven by playwright), wait until the first of `texts`
    shows, save a screenshot to `path`, and return which of `texts` the page shows.

    Playwright's sync API refuses to run inside an asyncio loop (a Jupyter kernel has one), so the
    browser runs in a worker thread."""
    from concurrent.futures import ThreadPoolExecutor

    from ..assets import CHROMIUM

    def shoot():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url, timeout=timeout_s * 1000)
                page.get_by_text(texts[0], exact=True).first.wait_for(timeout=timeout_s * 1000)
                page.screenshot(path=str(path))
                return {text: page.get_by_text(text, exact=True).count() > 0 for text in texts}
            finally:
                browser.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(shoot).result()
