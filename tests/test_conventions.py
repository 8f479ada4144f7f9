"""Every notebook follows the course's shape (CONTRIBUTING.md), checked without running it."""
import json
import re
from pathlib import Path

import pytest

from shared.curriculum import MODULE_TITLES, colab_url, tasks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("module*/*.ipynb"))
CURRICULUM_PATHS = {t.notebook for t in tasks()}


def cells(path):
    return json.loads((ROOT / path).read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def code(path):
    return "\n".join(source(c) for c in cells(path) if c["cell_type"] == "code")


def markdown(path):
    return "\n".join(source(c) for c in cells(path) if c["cell_type"] == "markdown")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_is_in_the_curriculum(path):
    assert path in CURRICULUM_PATHS, f"{path} is not a curriculum path (shared/curriculum.json)"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_no_committed_outputs(path):
    dirty = [i for i, c in enumerate(cells(path)) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path}: cells {dirty} have outputs; run `jupyter nbconvert --clear-output --inplace {path}`"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_title_objectives_and_colab_badge(path):
    first = cells(path)[0]
    assert first["cell_type"] == "markdown" and source(first).startswith("# "), "first cell: '# Title'"
    assert "## What you will learn" in source(first)
    badges = re.findall(r"\((https://colab\.research\.google\.com/github/[^)]+)\)", source(first))
    assert badges == [colab_url(path)], f"Colab badge must point at {colab_url(path)}, found {badges}"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_setup_cell_installs_in_colab_and_starts_the_run(path):
    setup = next(source(c) for c in cells(path) if c["cell_type"] == "code")
    assert '"google.colab" in sys.modules' in setup and "pip install" in setup
    # a notebook opened from its Colab badge alone gets the whole checkout, data/ included
    assert "git clone" in setup and 'sys.path.insert(0, "/content/llm-journey")' in setup
    assert f'start("{path}"' in setup, f'the setup cell must call start("{path}")'


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_both_profiles_configured(path):
    assert re.search(r"pick\(\s*tiny=", code(path)) and "full=" in code(path)


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_results_are_asserted_with_the_ledger(path):
    assert "run.expect(" in code(path), f"{path} asserts no result with run.expect"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_summary_exercises_references(path):
    text = markdown(path)
    for heading in ("## Summary", "## Exercises", "## References"):
        assert heading in text, f"{path} lacks a '{heading}' section"
    exercises = text.split("## Exercises")[1].split("## References")[0]
    assert "Hint" in exercises, "each exercise comes with a hint"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_listed_in_readme(path):
    assert path in (ROOT / "README.md").read_text(), f"README's curriculum table does not link {path}"


@pytest.mark.parametrize("module", MODULE_TITLES)
def test_module_has_readme(module):
    assert (ROOT / module / "README.md").exists()


def test_readme_curriculum_table_is_current():
    from shared.curriculum import TABLE_END, TABLE_START, curriculum_table

    readme = (ROOT / "README.md").read_text()
    table = readme.split(TABLE_START)[1].split(TABLE_END)[0].strip()
    assert table == curriculum_table().strip(), "run `python -m shared.curriculum` to regenerate the table"
