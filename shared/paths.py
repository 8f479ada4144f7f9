"""Where things live: the repository, the asset cache and the build folder."""
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path | None:
    """The checkout this package runs from, or None when installed from a wheel (e.g. Colab)."""
    candidate = PACKAGE_DIR.parent
    return candidate if (candidate / "pyproject.toml").exists() else None


def cache_dir() -> Path:
    """Converted weights, trained tiny models and NLTK data: $JOURNEY_CACHE or ~/.cache/llm-journey."""
    path = Path(os.environ.get("JOURNEY_CACHE", Path.home() / ".cache" / "llm-journey"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_dir() -> Path:
    """Executed notebooks, ledger results and reports: $JOURNEY_BUILD or <repo>/build."""
    default = (repo_root() or Path.cwd()) / "build"
    path = Path(os.environ.get("JOURNEY_BUILD", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Small datasets committed with the project (see data/README.md)."""
    root = repo_root()
    if root is None:
        raise FileNotFoundError("data/ is only available in a checkout: git clone the repository")
    return root / "data"
