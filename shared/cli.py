"""`journey`: list the curriculum, run notebooks headless, install the offline assets.

    journey list
    journey run module01_nlp_foundations [--profile tiny|full]
    journey assets [--check]
    journey doctor [--module MODULE]
    journey serve [--model NAME_OR_PATH] [--host 127.0.0.1] [--port 8000] [--max-batch 16] [--max-wait-ms 10]
    journey chat [--model NAME_OR_PATH] [--host 127.0.0.1] [--port 7860] [--share]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .curriculum import MODULE_TITLES, resolve, tasks
from .paths import build_dir
from .report import NotebookRun, write_report

EXIT_BAD_ARGS = 2


def cmd_list(args) -> int:
    rows = tasks()
    ready = sum(t.status == "ready" for t in rows)
    print(f"{len(MODULE_TITLES)} modules, {len(rows)} tasks, {ready} ready\n")
    for module, title in MODULE_TITLES.items():
        print(f"{module}  {title}")
        for t in (t for t in rows if t.module == module):
            print(f"  {t.number:>2}  {t.status:<7}  {Path(t.notebook).name:<40} {t.task}")
    return 0


class NotebookFailed(RuntimeError):
    def __init__(self, message: str, run: NotebookRun):
        super().__init__(message)
        self.run = run  # what ran, for the report


def execute_notebook(path: Path, name: str, profile: str | None, timeout: int) -> NotebookRun:
    """Run one notebook top to bottom in a fresh kernel; write the executed copy under build/.

    `name` is the notebook's path relative to the repository (where its copy is written). The
    kernel talks over local IPC sockets (no TCP port, hence no "running over TCP without
    encryption" warning) and its CPU time is read before it shuts down."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from .utils import process_tree_cpu_seconds

    nb = nbformat.read(path, as_version=4)
    if profile:
        os.environ["JOURNEY_PROFILE"] = profile  # the kernel inherits this environment
    os.environ.setdefault("JOURNEY_BUILD", str(build_dir()))
    # IPC sockets are files named after `ip`: an absolute path, since the kernel runs in the notebook's folder
    sockets = Path(tempfile.mkdtemp(prefix="journey-kernel-")) / "kernel"
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets))
    client = NotebookClient(nb, km=kernel, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    out = build_dir() / "executed" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    start, error, cpu = time.perf_counter(), None, None
    try:
        with client.setup_kernel():
            try:
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
            except CellExecutionError as exc:
                error = _failing_cell(nb) or str(exc).splitlines()[-1]
            finally:
                cpu = process_tree_cpu_seconds(kernel.provisioner.pid)
                kernel.shutdown_kernel(now=False)  # a kernel manager passed in is ours to stop
    finally:
        nbformat.write(nb, out)
        shutil.rmtree(sockets.parent, ignore_errors=True)
    run = NotebookRun(name, out, round(time.perf_counter() - start, 1), round(cpu, 1), error)
    if error:
        raise NotebookFailed(f"{name}: {error} (executed copy: {out})", run)
    return run


def _failing_cell(nb) -> str | None:
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for index, cell in enumerate(code_cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"code cell {index} raised {output['ename']}: {output['evalue']}"
    return None


def cmd_run(args) -> int:
    try:
        chosen = resolve(args.targets)
    except ValueError as error:
        print(f"journey run: {error}", file=sys.stderr)
        return EXIT_BAD_ARGS
    planned = [t.notebook for t in chosen if t.status != "ready"]
    runnable = [t for t in chosen if t.status == "ready"]
    if args.targets and not runnable:
        print(f"journey run: nothing to run, all planned: {', '.join(planned)}", file=sys.stderr)
        return EXIT_BAD_ARGS
    from tqdm.auto import tqdm

    runs, failures = [], []
    for task in (bar := tqdm(runnable, desc="notebooks", unit="nb")):
        bar.set_postfix_str(Path(task.notebook).name)
        try:
            runs.append(execute_notebook(task.path, task.notebook, args.profile, args.timeout))
        except NotebookFailed as failure:
            runs.append(failure.run)
            failures.append(str(failure))
            tqdm.write(f"FAILED {failure}")
    page = write_report(runs)
    for run in runs:
        print(f"{'ok ' if run.error is None else 'ERR'} {run.wall_s:>6.1f} s wall {run.cpu_s:>6.1f} s CPU  {run.notebook}")
    if planned:
        print(f"skipped {len(planned)} planned notebooks (not written yet)")
    print(f"report: {page}")
    if failures:
        print("\n".join(["FAILED:", *failures]), file=sys.stderr)
        return 1
    return 0


def register_all_assets() -> None:
    """Import every module that registers assets with `shared.assets` (datasets' source files, a
    converted model, a cached training run), so that `journey assets` installs and reports all."""
    from . import data, models  # noqa: F401  (each module registers the files it reads)
    from .apps import ask_course, code_assistant, summarize  # noqa: F401
    from .ops import workflow  # noqa: F401
    from .serve import attacks, guards  # noqa: F401
    from .text import ner, sentiment, topics, word_vectors  # noqa: F401
    from .train import (  # noqa: F401
        batch_size,
        distill,
        format_finetune,
        glove_paper,
        instruction_tuning,
        lora_finetune,
        model_comparison,
        peft_compare,
        preference_dpo,
        pruning,
        review_classifier,
        text_to_image,
        tiny_mlm,
        tiny_rnn_lm,
        tiny_t5,
        topic_classifier,
        video_captioner,
    )


def cmd_assets(args) -> int:
    from . import assets

    register_all_assets()
    report = assets.check_all() if args.check else assets.install_all(jobs=args.jobs, prepare=register_all_assets)
    width = max(map(len, report))
    for name, status in report.items():
        print(f"{name:<{width}}  {status}")
    print_build_times(assets.build_times())
    missing = [name for name, status in report.items() if status.startswith("MISSING")]
    if missing:
        print(f"\n{len(missing)} missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"\nall {len(report)} assets present")
    return 0


def print_build_times(times: dict[str, dict]) -> None:
    """The derived assets' build times, slowest first: what a clean machine (CI) spends building them."""
    if not times:
        return
    print("\nbuild time of the derived assets in the cache (measured when each was built):")
    print(f"  {'CPU s':>7} {'wall s':>7}  asset")
    for name, t in sorted(times.items(), key=lambda item: -item[1]["cpu_s"]):
        print(f"  {t['cpu_s']:7.1f} {t['wall_s']:7.1f}  {name}")
    print(f"  {sum(t['cpu_s'] for t in times.values()):7.1f} {sum(t['wall_s'] for t in times.values()):7.1f}"
          f"  total of {len(times)} (builds run in parallel, so the wall clock is less)")


def cmd_doctor(args) -> int:
    from . import doctor

    register_all_assets()
    return doctor.main(args.module)


def cmd_serve(args) -> int:
    from .serve.server import serve

    serve(model=args.model, host=args.host, port=args.port, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
          max_queue=args.max_queue, max_context=args.max_context, max_tokens_limit=args.max_tokens_limit,
          timeout_s=args.timeout, max_body_bytes=args.max_body_bytes, threads=args.threads, log_level=args.log_level,
          guard=args.guard, weight_bits=args.weight_bits, weight_group_size=args.weight_group_size)
    return 0


def cmd_chat(args) -> int:
    from .apps.chat import serve_chat

    serve_chat(model=args.model, host=args.host, port=args.port, share=args.share,
               max_context_tokens=args.max_context_tokens, max_new_tokens=args.max_new_tokens, threads=args.threads)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="journey", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the curriculum with each notebook's status").set_defaults(func=cmd_list)
    run = sub.add_parser("run", help="execute notebooks headless; executed copies and report under build/")
    run.add_argument("targets", nargs="*", help="module folders or notebook paths (default: all ready)")
    run.add_argument("--profile", choices=["tiny", "full"], help="default: JOURNEY_PROFILE or auto-detect")
    run.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    run.set_defaults(func=cmd_run)
    assets = sub.add_parser("assets", help="install/build the offline assets of the tiny profile")
    assets.add_argument("--check", action="store_true", help="only report, install nothing")
    assets.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="derived assets built at a time, one process each (default: 2, or 1 on one core)")
    assets.set_defaults(func=cmd_assets)
    doctor = sub.add_parser("doctor", help="check this machine: versions, CPU/GPU, hub, profile, assets, disk")
    doctor.add_argument("--module", help="in Colab, also estimate this module's full profile on the GPU")
    doctor.set_defaults(func=cmd_doctor)
    serve = sub.add_parser("serve", help="an OpenAI-compatible chat API with continuous batching (FastAPI + uvicorn)")
    serve.add_argument("--model", help="hub id or local folder (tiny profile: SmolLM2-135M-Instruct, offline)")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
    serve.add_argument("--max-batch", type=int, default=16, help="most requests in one forward pass (default 16)")
    serve.add_argument("--max-wait-ms", type=float, default=10,
                       help="when idle, wait this long for more requests before the first prefill (default 10)")
    serve.add_argument("--max-queue", type=int, default=64, help="waiting requests beyond this get 429 (default 64)")
    serve.add_argument("--max-context", type=int, help="prompt + completion tokens (default: the model's)")
    serve.add_argument("--max-tokens-limit", type=int, default=512, help="largest max_tokens accepted (default 512)")
    serve.add_argument("--timeout", type=float, default=120, help="seconds per request (default 120)")
    serve.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger bodies get 413 (default 1 MB)")
    serve.add_argument("--threads", type=int, help="torch threads (default: 1 in the tiny profile)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--guard", action=argparse.BooleanOptionalAction, default=False,
                       help="refuse prompt injections, monitor and redact replies (default off)")
    serve.add_argument("--weight-bits", type=int, help="round linear weights to this many bits (default: as stored)")
    serve.add_argument("--weight-group-size", type=int, help="weights per quantization scale (default: one per row)")
    serve.set_defaults(func=cmd_serve)
    chat = sub.add_parser("chat", help="a Gradio chatbot in the browser: streaming, memory, guards (module 11)")
    chat.add_argument("--model", help="hub id or local folder (tiny profile: SmolLM2-135M-Instruct, offline)")
    chat.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    chat.add_argument("--port", type=int, default=7860, help="default 7860")
    chat.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs internet)")
    chat.add_argument("--max-context-tokens", type=int, default=1024,
                      help="prompt budget: older exchanges are dropped beyond it (default 1024)")
    chat.add_argument("--max-new-tokens", type=int, default=128, help="default reply length in tokens (default 128)")
    chat.add_argument("--threads", type=int, help="torch threads (default: 1 in the tiny profile)")
    chat.set_defaults(func=cmd_chat)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
