"""`build/report.html`: numbers formatted with their precision and unit, expectations as measured
vs bound, figures embedded, links that resolve; checked as data and in a real headless browser."""
import base64
import io
import json
import re
from pathlib import Path

import nbformat
import pytest

from shared.report import NotebookRun, format_value, notebook_report, render, write_report


@pytest.mark.parametrize("value, fmt, unit, shown", [
    (29.533333333333335, None, None, "29.53"),
    (29.533333333333335, ".1f", "s", "29.5 s"),
    (12000, None, None, "12,000"),
    (0.000123456, None, None, "0.0001235"),
    (True, None, None, "true"),
    ("greedy", None, None, "greedy"),
    ([1, 2], None, "tokens", "[1, 2] tokens"),
])
def test_values_are_formatted_for_a_person(value, fmt, unit, shown):
    assert format_value(value, fmt, unit) == shown


def _png() -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def build(tmp_path):
    """A build folder with one executed notebook (a figure in it) and its ledger."""
    executed = tmp_path / "executed" / "module00_test" / "01_demo.ipynb"
    executed.parent.mkdir(parents=True)
    cell = nbformat.v4.new_code_cell("plot()", execution_count=1, outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})])
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Demo"), cell]), executed)
    ledger = tmp_path / "results" / "module00_test" / "01_demo.json"
    ledger.parent.mkdir(parents=True)
    ledger.write_text(json.dumps({
        "notebook": "module00_test/01_demo.ipynb", "profile": "tiny",
        "results": {"rouge1": 17.27341, "steps": 300, "ratio": 0.4161, "note": "<b>bold</b>"},
        "meta": {"rouge1": {"fmt": ".1f", "unit": "points", "published": "lead-3: 40.3 (See et al., 2017)"}},
        "expectations": [{"name": "rouge1", "rule": "> 15", "value": 17.27341, "passed": True},
                         {"name": "ratio", "rule": "< 0.4", "value": 0.4161, "passed": False}]}))
    return tmp_path


def test_a_notebook_report_holds_formatted_results_checks_and_figures(build):
    run = NotebookRun("module00_test/01_demo.ipynb", build / "executed/module00_test/01_demo.ipynb", 12.3, 10.1)
    report = notebook_report(run, build)
    shown = {r.name: r for r in report.results}
    assert shown["rouge1"].value == "17.3 points" and shown["rouge1"].published.startswith("lead-3")
    assert shown["steps"].value == "300" and [c.rule for c in shown["ratio"].checks] == ["< 0.4"]
    assert report.status == "failed"                       # one expectation failed
    assert len(report.figures) == 1 and report.figures[0].startswith("data:image/png;base64,")
    assert (build / report.html).exists() and report.html.endswith(".html")


def test_the_page_escapes_text_and_summarises(build):
    runs = [NotebookRun("module00_test/01_demo.ipynb", build / "executed/module00_test/01_demo.ipynb", 12.3, 10.1),
            NotebookRun("module00_test/02_missing.ipynb", None, 1.0, None, "code cell 2 raised ValueError: <boom>")]
    html = render([notebook_report(run, build) for run in runs])
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;boom&gt;" in html and "29.533333" not in html
    assert "2 failed" in html and "17.3 points" in html and "✘ failed" in html


def _links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def test_every_link_of_the_page_resolves(build):
    page = write_report([NotebookRun("module00_test/01_demo.ipynb",
                                     build / "executed/module00_test/01_demo.ipynb", 12.3, 10.1)], build)
    html = page.read_text()
    anchors = set(re.findall(r'id="([^"]+)"', html))
    for link in _links(html):
        if link.startswith("#"):
            assert link[1:] in anchors, link
        else:
            assert (page.parent / link).exists(), link


def test_the_page_loads_in_a_real_browser_without_console_errors(build):
    from playwright.sync_api import sync_playwright

    from shared.assets import CHROMIUM

    assert Path(CHROMIUM).exists(), "chromium is missing: run `journey assets` (it installs Debian's chromium)"
    page_file = write_report([NotebookRun("module00_test/01_demo.ipynb",
                                          build / "executed/module00_test/01_demo.ipynb", 12.3, 10.1)], build)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(page_file.as_uri())
        assert page.locator("#summary tr").count() == 2                  # header + one notebook
        assert page.locator("img[src^='data:image/png']").count() == 1   # the figure, embedded
        image_loaded = page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        report_errors = list(errors)
        # the link opens the HTML copy (nbconvert's page asks a CDN for MathJax, unreachable offline)
        page.click("text=the executed notebook")
        page.wait_for_load_state()
        assert page.url.endswith("01_demo.html") and "Demo" in page.content()
        browser.close()
    assert image_loaded and report_errors == []
