"""The `journey` command and the notebook harness: failures must fail loudly."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from shared import cli
from shared.curriculum import resolve, tasks

ROOT = Path(__file__).resolve().parents[1]


def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


GOOD = ("x = 21 * 2", "assert x == 42")
RAISING = ("x = 1", "raise ValueError('boom in cell two')")
FAILED_EXPECTATION = (
    "from shared.ledger import Ledger\nimport tempfile, pathlib\n"
    "ledger = Ledger('t.ipynb', 'tiny', path=pathlib.Path(tempfile.mkdtemp()) / 'r.json')",
    "ledger.record('accuracy', 0.4)\nledger.expect('accuracy', above=0.8)",
)


def test_list_shows_all_modules_and_tasks(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "12 modules, 59 tasks" in out
    assert out.count("module") >= 12 and "01_nlp_and_applications.ipynb" in out


def test_curriculum_has_59_unique_notebooks():
    paths = [t.notebook for t in tasks()]
    assert len(paths) == 59 == len(set(paths))


def test_resolve_by_module_and_by_notebook():
    assert len(resolve(["module01_nlp_foundations"])) == 11
    assert [t.notebook for t in resolve(["module01_nlp_foundations/02_tokenization_exploration"])] == \
        ["module01_nlp_foundations/02_tokenization_exploration.ipynb"]


def test_unknown_target_exits_2(capsys):
    assert cli.main(["run", "module99_nothing"]) == cli.EXIT_BAD_ARGS
    assert "journey list" in capsys.readouterr().err


def test_bad_subcommand_and_option_exit_2():
    for argv in (["fly"], ["run", "--profile", "huge"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2


def test_chat_parses_its_options_and_calls_serve_chat(monkeypatch):
    """`journey chat` hands its options to `shared.apps.chat.serve_chat` (mocked: no model, no server)."""
    from shared.apps import chat

    calls = []
    monkeypatch.setattr(chat, "serve_chat", lambda **kwargs: calls.append(kwargs))
    assert cli.main(["chat"]) == 0
    assert calls[-1] == {"model": None, "host": "127.0.0.1", "port": 7860, "share": False, "max_context_tokens": 1024,
                         "max_new_tokens": 128, "threads": None}
    assert cli.main(["chat", "--port", "7861", "--model", "HuggingFaceTB/SmolLM2-1.7B-Instruct",
                     "--max-context-tokens", "256", "--share"]) == 0
    assert calls[-1]["port"] == 7861 and calls[-1]["model"] == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    assert calls[-1]["max_context_tokens"] == 256 and calls[-1]["share"] is True
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["chat", "--port", "not-a-port"])
    assert exit_info.value.code == 2


def test_chat_help_names_its_options():
    out = subprocess.run([sys.executable, "-m", "shared.cli", "chat", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    for option in ("--port", "--model", "--share", "--max-context-tokens"):
        assert option in out


def test_execute_good_notebook_writes_executed_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEY_BUILD", str(tmp_path / "build"))
    run = cli.execute_notebook(write_notebook(tmp_path / "good.ipynb", *GOOD), "m/good.ipynb", "tiny", 60)
    executed = nbformat.read(run.executed, as_version=4)
    assert executed.cells[0].execution_count == 1
    assert run.error is None and run.cpu_s > 0 and run.wall_s >= run.cpu_s / 4


@pytest.mark.parametrize("sources, message", [
    (RAISING, "code cell 2 raised ValueError: boom in cell two"),
    (FAILED_EXPECTATION, "code cell 2 raised ExpectationFailed"),
])
def test_execute_failing_notebook_names_the_cell(tmp_path, monkeypatch, sources, message):
    monkeypatch.setenv("JOURNEY_BUILD", str(tmp_path / "build"))
    with pytest.raises(cli.NotebookFailed, match=message):
        cli.execute_notebook(write_notebook(tmp_path / "bad.ipynb", *sources), "m/bad.ipynb", "tiny", 60)


@pytest.mark.parametrize("sources, expected_exit", [(GOOD, 0), (RAISING, 1), (FAILED_EXPECTATION, 1)])
def test_nbval_harness_fails_on_raising_cell_or_failed_expectation(tmp_path, sources, expected_exit):
    """The test suite's own notebook runner (pytest + nbval) turns a failure into a failing run."""
    notebook = write_notebook(tmp_path / "nb.ipynb", *sources)
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                             "--rootdir", str(tmp_path), str(notebook)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == expected_exit, result.stdout[-2000:]


def test_journey_run_kernels_do_not_warn_about_tcp(tmp_path, monkeypatch, capfd):
    """Kernels talk over IPC sockets: no "running over TCP without encryption" warning for learners."""
    monkeypatch.setenv("JOURNEY_BUILD", str(tmp_path / "build"))
    cli.execute_notebook(write_notebook(tmp_path / "good.ipynb", *GOOD), "m/good.ipynb", "tiny", 60)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err


def test_journey_run_writes_the_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JOURNEY_BUILD", str(tmp_path / "build"))
    assert cli.main(["run", "module01_nlp_foundations/08_bow_tfidf"]) == 0
    page = (tmp_path / "build" / "report.html").read_text()
    assert "module01_nlp_foundations/08_bow_tfidf.ipynb" in page and "passed" in page
    assert (tmp_path / "build" / "executed" / "module01_nlp_foundations" / "08_bow_tfidf.html").exists()
