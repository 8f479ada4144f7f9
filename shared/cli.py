"""`journey`: list the curriculum, run notebooks headless, install the offline assets.

    journey list
    journey run module01_nlp_foundations [--profile tiny|full]
    journey assets [--check]
"""
import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

from .curriculum import MODULE_TITLES, resolve, tasks
from .paths import build_dir

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
    pass


def execute_notebook(path: Path, name: str, profile: str | None, timeout: int) -> dict:
    """Run one notebook top to bottom in a fresh kernel; write the executed copy under build/.

    `name` is the notebook's path relative to the repository (where its copy is written)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    if profile:
        os.environ["JOURNEY_PROFILE"] = profile  # the kernel inherits this environment
    os.environ.setdefault("JOURNEY_BUILD", str(build_dir()))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    out = build_dir() / "executed" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        client.execute()
        error = None
    except CellExecutionError as exc:
        error = _failing_cell(nb) or str(exc).splitlines()[-1]
    finally:
        nbformat.write(nb, out)
    seconds = time.perf_counter() - start
    if error:
        raise NotebookFailed(f"{name}: {error} (executed copy: {out})")
    return {"notebook": name, "seconds": round(seconds, 1), "executed": str(out)}


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

    done, failures = [], []
    for task in (bar := tqdm(runnable, desc="notebooks", unit="nb")):
        bar.set_postfix_str(Path(task.notebook).name)
        try:
            done.append(execute_notebook(task.path, task.notebook, args.profile, args.timeout))
        except NotebookFailed as failure:
            failures.append(str(failure))
            tqdm.write(f"FAILED {failure}")
    report = write_report(done, failures)
    for row in done:
        print(f"ok  {row['seconds']:>6.1f} s  {row['notebook']}")
    if planned:
        print(f"skipped {len(planned)} planned notebooks (not written yet)")
    print(f"report: {report}")
    if failures:
        print("\n".join(["FAILED:", *failures]), file=sys.stderr)
        return 1
    return 0


def write_report(done: list[dict], failures: list[str]) -> Path:
    """An HTML page with each notebook's runtime and its ledger results and expectations."""
    parts = ["<html><head><meta charset='utf-8'><title>llm-journey results</title></head><body>",
             "<h1>llm-journey: results ledger</h1>"]
    for message in failures:
        parts.append(f"<p style='color:#b00'><b>FAILED</b> {html.escape(message)}</p>")
    for row in done:
        results_file = build_dir() / "results" / Path(row["notebook"]).with_suffix(".json")
        ledger = json.loads(results_file.read_text()) if results_file.exists() else {}
        parts.append(f"<h2>{html.escape(row['notebook'])}</h2><p>profile {ledger.get('profile', '?')}, "
                     f"{row['seconds']} s</p><table border=1 cellpadding=4><tr><th>result</th><th>value</th></tr>")
        for name, value in ledger.get("results", {}).items():
            parts.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(value))}</td></tr>")
        parts.append("</table><ul>")
        for e in ledger.get("expectations", []):
            mark = "✔" if e["passed"] else "✘"
            parts.append(f"<li>{mark} {html.escape(e['name'])} {html.escape(e['rule'])}</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    path = build_dir() / "report.html"
    path.write_text("\n".join(parts))
    return path


def register_all_assets() -> None:
    """Import every module that registers assets with `shared.assets` (datasets' source files, a
    converted model, a cached training run), so that `journey assets` installs and reports all."""
    from . import data, models  # noqa: F401  (each module registers the files it reads)
    from .text import word_vectors  # noqa: F401
    from .train import format_finetune, review_classifier, tiny_t5  # noqa: F401


def cmd_assets(args) -> int:
    from . import assets

    register_all_assets()
    report = assets.check_all() if args.check else assets.install_all()
    width = max(map(len, report))
    for name, status in report.items():
        print(f"{name:<{width}}  {status}")
    missing = [name for name, status in report.items() if status.startswith("MISSING")]
    if missing:
        print(f"\n{len(missing)} missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"\nall {len(report)} assets present")
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
    assets.set_defaults(func=cmd_assets)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
