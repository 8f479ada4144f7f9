"""`shared` is layered: no module imports another in a loop, and the top level holds only the
course runtime (the map is in shared/__init__.py and CONTRIBUTING.md).

Imports are read from the source: every `import`/`from` statement, also those inside functions,
so a loop that only closes at run time is caught too. (A package's `__init__` that re-exports its
own modules is not a loop: those modules never need the package's namespace.)
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "shared"
RUNTIME = {"__init__", "assets", "cli", "corpora", "curriculum", "doctor", "ledger", "model_search", "models",
           "notebook", "paths", "profile", "report", "utils"}  # the top level's modules: the course runtime


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# shared/metrics/*/ hold `evaluate` metric scripts, loaded by path, not imported as modules
MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if p.parent.parent.name != "metrics"}


def resolve(name: str) -> str | None:
    """The module of `shared` that an imported dotted name lands in (a module, or its package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..y import z
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return {target for name in names if name.startswith("shared") and (target := resolve(name))} - {module}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop as [a, b, ..., a], or None: depth-first search that keeps the open path."""
    done, path = set(), []

    def visit(node):
        path.append(node)
        for successor in sorted(graph[node]):
            if successor in path:
                return path[path.index(successor):] + [successor]
            if successor not in done and (cycle := visit(successor)):
                return cycle
        done.add(path.pop())
        return None

    for node in sorted(graph):
        if node not in done and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_sees_a_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_imports_inside_functions():
    assert "shared.train.tiny_t5" in imports_of("shared.models")  # imported inside load_seq2seq


def test_no_import_cycles_in_shared():
    cycle = find_cycle({module: imports_of(module) for module in MODULES})
    assert cycle is None, "import loop in shared: " + " -> ".join(cycle)


def test_the_top_level_holds_only_the_course_runtime():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= RUNTIME, (f"{sorted(top - RUNTIME)} at the top of shared/: lesson components go into a "
                            "subpackage (text, nn, train, infer, ...); see shared/__init__.py")
