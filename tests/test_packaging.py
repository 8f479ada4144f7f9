"""The lock file (constraints.txt) must satisfy every range in pyproject.toml, or a fresh install fails."""
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def test_every_dependency_is_locked_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[normalise(name)] = version
    requirements = [Requirement(r) for r in project["dependencies"] + sum(project["optional-dependencies"].values(), [])]
    problems = [f"{r} locked at {pins.get(normalise(r.name))}" for r in requirements
                if not r.specifier.contains(pins.get(normalise(r.name), "0"), prereleases=True)]
    assert not problems, "constraints.txt contradicts pyproject.toml: " + "; ".join(problems)
