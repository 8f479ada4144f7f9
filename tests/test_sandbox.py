"""The sandbox of shared/apps/sandbox.py, measured: what it lets through and what it stops, in
both network modes (the kernel's namespace where this machine allows it, and the prelude alone)."""
import ast
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from shared.apps import code_assistant, code_eval
from shared.apps.sandbox import Limits, network_isolation, run_code

ROOT = Path(__file__).resolve().parents[1]
MODES = ["prelude"] + (["namespace"] if network_isolation() == "namespace" else [])
FAST = Limits(timeout_s=2.0)


@pytest.mark.parametrize("language,code", [
    ("python", "def f(x):\n    return x + 1\n\nassert f(1) == 2\nprint('ok')"),
    ("javascript", "const assert = require('assert');\nfunction f(x) { return x + 1; }\nassert.strictEqual(f(1), 2);\nconsole.log('ok');"),
])
def test_passing_code_passes(language, code):
    result = run_code(code, language, FAST)
    assert result.passed and result.stdout.strip() == "ok" and not result.timed_out


@pytest.mark.parametrize("language,code,message", [
    ("python", "def f(x):\n    return x + 2\n\nassert f(1) == 2", "AssertionError"),
    ("javascript", "const assert = require('assert');\nfunction f(x) { return x + 2; }\nassert.strictEqual(f(1), 2);",
     "AssertionError"),
    ("python", "def f(x) return x", "SyntaxError"),
])
def test_failing_code_fails_with_its_error(language, code, message):
    result = run_code(code, language, FAST)
    assert not result.passed and result.returncode != 0
    assert message in result.error() and "sandbox-" not in result.stderr  # no temp dir names in the message


@pytest.mark.parametrize("language,code", [("python", "while True:\n    pass"), ("javascript", "while (true) {}")])
def test_an_infinite_loop_is_killed_by_the_timeout(language, code):
    start = time.perf_counter()
    result = run_code(code, language, Limits(timeout_s=1.0))
    assert result.timed_out and not result.passed and result.returncode < 0
    assert time.perf_counter() - start < 5
    assert "Timeout" in result.error()


@pytest.mark.parametrize("language,code", [
    ("python", "x = bytearray(4 * 1024 ** 3)\nprint('allocated')"),
    ("python", "x = []\nwhile True:\n    x.append(' ' * 10 ** 6)"),
    ("javascript", "const a = [];\nwhile (true) a.push(new Array(1e6).fill(1));"),
])
def test_a_memory_bomb_is_stopped(language, code):
    result = run_code(code, language, Limits(timeout_s=10.0))
    assert not result.passed and not result.timed_out  # stopped by the memory limit, well before the timeout
    assert "allocated" not in result.stdout
    assert "MemoryError" in result.stderr or "heap out of memory" in result.stderr


@pytest.fixture
def listener():
    """A TCP server on loopback that counts the connections it gets."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted = []

    def serve():
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except (TimeoutError, OSError):
                pass
    stop = threading.Event()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("language,code", [
    ("python", "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')\nprint('connected')"),
    ("python", "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2)\nprint('connected')"),
    ("javascript", ("const net = require('net');\nconst s = net.connect({port}, '127.0.0.1', () => console.log('connected'));\n"
                    "s.on('error', e => {{ console.error(e.message); process.exit(3); }});")),
    ("javascript", ("import('node:net').then(net => {{ const s = net.connect({port}, '127.0.0.1', () => "
                    "console.log('connected')); s.on('error', () => process.exit(3)); }}, () => process.exit(4));")),
    ("javascript", "fetch('http://127.0.0.1:{port}/').then(() => console.log('connected'), () => process.exit(3));"),
])
def test_a_network_attempt_fails(listener, mode, language, code):
    port, accepted = listener
    result = run_code(code.format(port=port), language, Limits(timeout_s=5.0), network=mode)
    time.sleep(0.3)  # let the listener see a connection, if one was made
    assert not result.passed and "connected" not in result.stdout and not accepted


@pytest.mark.parametrize("language,code", [
    ("python", "open({path!r}, 'w').write('x')"),
    ("python", "import os\nos.makedirs({path!r})"),
    ("python", "import pathlib\npathlib.Path({path!r}).write_text('x')"),
    ("python", "import os\nos.symlink({path!r}, 'link')\nopen('link', 'w').write('x')"),
    ("javascript", "require('fs').writeFileSync({path!r}, 'x');"),
    ("javascript", "require('fs').mkdirSync({path!r});"),
])
def test_writing_outside_the_temp_dir_fails(tmp_path, language, code):
    target = tmp_path / "outside"
    result = run_code(code.format(path=str(target)), language, FAST)
    assert not result.passed and not target.exists()


@pytest.mark.parametrize("language,code", [
    ("python", "open('notes.txt', 'w').write('kept')\nimport os\nos.mkdir('sub')\nprint(open('notes.txt').read())"),
    ("javascript", "const fs = require('fs');\nfs.writeFileSync('notes.txt', 'kept');\nconsole.log(fs.readFileSync('notes.txt', 'utf8'));"),
])
def test_writing_inside_the_temp_dir_works_and_is_removed(language, code):
    result = run_code(code, language, FAST)
    assert result.passed and result.stdout.strip() == "kept"
    assert not (ROOT / "notes.txt").exists() and not (Path.cwd() / "notes.txt").exists()


@pytest.mark.parametrize("language,code", [
    ("python", "import subprocess\nsubprocess.run(['true'])"),
    ("python", "import os\nos.system('true')"),
    ("javascript", "require('child_process').execSync('true');"),
])
def test_starting_a_process_fails(language, code):
    assert not run_code(code, language, FAST).passed


def test_the_environment_is_minimal(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HF_TOKEN", "secret")
    result = run_code("import os, sys\nprint(sorted(os.environ), sys.flags.isolated)", "python", FAST)
    assert "HTTPS_PROXY" not in result.stdout and "HF_TOKEN" not in result.stdout and result.stdout.strip().endswith("1")


def test_output_is_bounded():
    result = run_code("while True:\n    print('x' * 1000)", "python", Limits(timeout_s=5.0, file_mb=1, output_chars=500))
    assert not result.passed and len(result.stdout) <= 500


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="language must be one of"):
        run_code("print(1)", "ruby")
    with pytest.raises(ValueError, match="network must be"):
        run_code("print(1)", "python", network="none")


def test_the_task_solutions_pass_and_the_tests_alone_fail():
    from shared.data import load_dataset

    data = load_dataset("code_tasks", "tiny")
    for task in list(data["validation"]) + list(data["test"]):
        assert code_eval.check(task["solution"], task).passed, task["task_id"]
        assert not code_eval.check("", task).passed, task["task_id"]  # the tests need the function


# --- nothing generated runs outside the sandbox ------------------------------------------------

RUNS_CODE = {"exec", "eval", "compile", "__import__"}                      # builtins (model.eval() is not one)
STARTS_PROCESSES = {"system", "popen", "Popen", "run_path", "run_module", "execv", "execve", "spawnv", "fork",
                    "check_output", "check_call", "create_subprocess_exec", "create_subprocess_shell"}


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in RUNS_CODE or isinstance(f, ast.Attribute) and f.attr in STARTS_PROCESSES:
                yield ast.unparse(f)


@pytest.mark.parametrize("path", ["shared/apps/code_eval.py", "shared/apps/code_assistant.py",
                                  "module11_applications/02_code_assistant.ipynb"])
def test_nothing_generated_runs_outside_the_sandbox(path):
    """The evaluation and the notebook run code only through `sandbox.run_code`: no exec/eval,
    no subprocess, no runpy of their own (sandbox.py is the one place that starts a process)."""
    text = (ROOT / path).read_text()
    if path.endswith(".ipynb"):
        lines = [line for c in json.loads(text)["cells"] if c["cell_type"] == "code"
                 for line in "".join(c["source"]).splitlines()]
        text = "\n".join(line for line in lines if not line.lstrip().startswith(("!", "%")))  # no shell or magics
    found = set(_calls(ast.parse(text)))
    assert not found, f"{path} calls {sorted(found)}: run generated code with shared.apps.sandbox.run_code"
    assert "subprocess" not in text


def test_the_checks_go_through_the_sandbox(monkeypatch):
    ran = []
    monkeypatch.setattr(code_eval, "run_code", lambda text, language, limits: ran.append(language) or
                        code_eval.Result(True, 0, "", "", False, 0.0))
    code_eval._run.cache_clear()
    task = {"language": "javascript", "tests": "// none\n", "prompt": "", "task_id": "x"}
    assert code_assistant.passes(["```js\nconsole.log(1)\n```", "```js\nconsole.log(2)\n```"], task) == [True, True]
    assert ran == ["javascript", "javascript"]
    code_eval._run.cache_clear()


def test_humaneval_reference_solutions_pass_as_chat_tasks():
    """The full profile's tasks: header (the original prompt) + solution + tests passes; header alone fails."""
    from shared.data import load_dataset

    data = load_dataset("humaneval_code_tasks", "tiny")
    assert (len(data["validation"]), len(data["test"])) == (40, 124)
    for task in list(data["validation"])[:8] + list(data["test"])[:8]:
        assert code_eval.check(task["solution"], task).passed, task["task_id"]
        assert not code_eval.check("", task).passed, task["task_id"]
