"""The curriculum: 12 modules, 59 tasks, one notebook each (paths fixed by the course plan)."""
import json
from dataclasses import dataclass
from pathlib import Path

from .paths import PACKAGE_DIR, repo_root

MODULE_TITLES = {
    "module01_nlp_foundations": "I. Foundations of NLP and text data",
    "module02_embeddings": "II. Word embeddings and language modelling",
    "module03_transformers": "III. Transformer architectures and their components",
    "module04_architectures": "IV. Key LLM architectures: GPT, BERT, T5",
    "module05_pretraining": "V. Pre-training",
    "module06_finetuning": "VI. Fine-tuning for downstream tasks",
    "module07_peft_rlhf": "VII. Parameter-efficient fine-tuning and RLHF",
    "module08_training_opt": "VIII. Optimising training",
    "module09_inference": "IX. Inference and optimisation",
    "module10_deployment": "X. Deployment",
    "module11_applications": "XI. Applications",
    "module12_advanced": "XII. Advanced topics",
}


@dataclass(frozen=True)
class Task:
    module: str    # e.g. "module01_nlp_foundations"
    number: int    # position within the module, from 1
    notebook: str  # path relative to the repository root
    task: str      # one-line description
    full_t4_minutes: float | None = None  # the notebook's own estimate of its full profile on a Colab T4

    @property
    def path(self) -> Path | None:
        root = repo_root()
        return root / self.notebook if root else None

    @property
    def status(self) -> str:
        return "ready" if self.path is not None and self.path.exists() else "planned"


def tasks() -> list[Task]:
    rows = json.loads((PACKAGE_DIR / "curriculum.json").read_text())
    return [Task(**row) for row in rows]


def resolve(targets: list[str]) -> list[Task]:
    """Tasks named by module folders or notebook paths (with or without .ipynb); all when empty."""
    everything = tasks()
    if not targets:
        return everything
    chosen = []
    for target in targets:
        name = target.rstrip("/").removeprefix("./")
        if name.endswith(".ipynb"):
            name = name[: -len(".ipynb")]
        matches = [t for t in everything
                   if t.module == name or t.notebook[: -len(".ipynb")] == name
                   or Path(t.notebook).stem == name]
        if not matches:
            raise ValueError(f"{target!r} names no module or notebook; see `journey list`")
        chosen += [t for t in matches if t not in chosen]
    return chosen

GITHUB_REPO = "llm-journey/llm-journey"  # owner/name on GitHub, used by the Colab badges


def colab_url(notebook: str) -> str:
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/main/{notebook}"


BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
TABLE_START, TABLE_END = "<!-- curriculum:start -->", "<!-- curriculum:end -->"


def curriculum_table() -> str:
    """The README's curriculum table (regenerate with `python -m shared.curriculum`)."""
    lines = []
    for module, title in MODULE_TITLES.items():
        lines += [f"\n### {title}  (`{module}`)\n", "| # | task | notebook | Colab | status |", "|---|---|---|---|---|"]
        for t in (t for t in tasks() if t.module == module):
            link = f"[{Path(t.notebook).name}]({t.notebook})"
            colab = f"[![Open In Colab]({BADGE})]({colab_url(t.notebook)})" if t.status == "ready" else ""
            lines.append(f"| {t.number} | {t.task} | {link} | {colab} | {t.status} |")
    return "\n".join(lines).lstrip("\n")


def update_readme(readme: Path) -> bool:
    """Rewrite the table between the markers; True when the file changed."""
    text = readme.read_text()
    head, rest = text.split(TABLE_START)
    _, tail = rest.split(TABLE_END)
    new = f"{head}{TABLE_START}\n{curriculum_table()}\n{TABLE_END}{tail}"
    readme.write_text(new)
    return new != text


if __name__ == "__main__":
    changed = update_readme(repo_root() / "README.md")
    print("README.md curriculum table " + ("updated" if changed else "already current"))
