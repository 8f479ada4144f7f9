"""The learner's report: `build/report.html`, written by `journey run`.

One self-contained page (figures embedded as thumbnails, styles inline) that says, per notebook:
its status, wall and CPU time, every recorded result formatted with its precision and unit (and
the published full-scale number where the notebook gives one), every expectation as measured vs
bound, and its figures, each linking to an HTML copy of the executed notebook (nbconvert).
A summary table and a runtime chart come first.

    page = write_report(runs)   # runs: [NotebookRun(...)] from `journey run`
"""
import base64
import io
import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from .paths import build_dir

THUMBNAIL_WIDTH = 260  # pixels


@dataclass
class NotebookRun:
    notebook: str               # path relative to the repository, e.g. "module01_.../01_x.ipynb"
    executed: Path | None       # the executed copy (also written when a cell failed)
    wall_s: float
    cpu_s: float | None         # CPU time of the kernel and the processes it started
    error: str | None = None    # the failing cell, when it failed


@dataclass
class Check:
    rule: str                   # e.g. "> 0.8 and < 1"
    passed: bool


@dataclass
class Result:
    name: str
    value: str                  # formatted with its precision and unit
    published: str | None       # the published full-scale number it compares with
    checks: list[Check] = field(default_factory=list)  # the notebook's expectations on it


@dataclass
class NotebookReport:
    run: NotebookRun
    profile: str = "?"
    results: list[Result] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # data: URIs of PNG thumbnails
    html: str | None = None                           # the executed copy as HTML, relative to build/

    @property
    def checks(self) -> list[Check]:
        return [check for result in self.results for check in result.checks]

    @property
    def status(self) -> str:
        return "failed" if self.run.error or any(not c.passed for c in self.checks) else "passed"


def format_value(value, fmt: str | None = None, unit: str | None = None) -> str:
    """A recorded value as a person reads it: 29.533333333333335 -> "29.53"; 12000 -> "12,000"."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        text = value if isinstance(value, str) else json.dumps(value)
        text = text if len(text) <= 80 else text[:77] + "..."
    elif fmt:
        text = format(value, fmt)
    elif isinstance(value, numbers.Integral):
        text = f"{value:,}"
    else:
        text = f"{value:,.4g}" if abs(value) < 1e6 else f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def _thumbnail(png_base64: str) -> str:
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(png_base64)))
    height = max(1, round(image.height * THUMBNAIL_WIDTH / image.width))
    small = image.convert("RGB").resize((THUMBNAIL_WIDTH, height), Image.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figures(executed: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    return [_thumbnail(output["data"]["image/png"])
            for cell in nb.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]


def export_html(executed: Path) -> Path:
    """An HTML copy of an executed notebook beside it (nbconvert's lab template, images inline)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_filename(str(executed))
    html = executed.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def notebook_report(run: NotebookRun, build: Path) -> NotebookReport:
    report = NotebookReport(run)
    ledger_file = build / "results" / Path(run.notebook).with_suffix(".json")
    if ledger_file.exists():
        ledger = json.loads(ledger_file.read_text())
        report.profile = ledger.get("profile", "?")
        meta = ledger.get("meta", {})
        results = {name: Result(name, format_value(value, meta.get(name, {}).get("fmt"), meta.get(name, {}).get("unit")),
                                meta.get(name, {}).get("published"))
                   for name, value in ledger.get("results", {}).items()}
        for e in ledger.get("expectations", []):
            results[e["name"]].checks.append(Check(e["rule"], e["passed"]))
        report.results = list(results.values())
    if run.executed and run.executed.exists():
        report.figures = _figures(run.executed)
        report.html = export_html(run.executed).relative_to(build).as_posix()
    return report


def render(reports: list[NotebookReport]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("shared", "templates"), autoescape=select_autoescape(["html", "j2"]))
    longest = max([max(r.run.wall_s, r.run.cpu_s or 0) for r in reports] + [1.0])
    return env.get_template("report.html.j2").render(
        reports=reports, longest=longest,
        passed=sum(r.status == "passed" for r in reports), failed=sum(r.status == "failed" for r in reports),
        wall=sum(r.run.wall_s for r in reports), cpu=sum(r.run.cpu_s or 0 for r in reports))


def write_report(runs: list[NotebookRun], build: Path | None = None) -> Path:
    build = build or build_dir()
    page = build / "report.html"
    page.write_text(render([notebook_report(run, build) for run in runs]), encoding="utf-8")
    return page
