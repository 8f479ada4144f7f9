"""Local `evaluate` metrics that load offline.

`evaluate.load("rouge")` fetches the metric's script from the Hugging Face hub, so it fails
offline. The same metrics live here as local modules, loaded by path:

    from shared.metrics import load
    rouge = load("rouge")
    rouge.compute(predictions=["the cat sat"], references=["a cat sat down"])  # {"rouge1": ..., ...}

Each module wraps the reference library (rouge_score, scikit-learn, sacrebleu) and returns the
same keys as the hub metric of that name. In each script write one import per line: evaluate
reads the imports with a regex that mis-parses `import a, b`.
"""
from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the local metrics: folders `<name>/` holding `<name>.py`."""
    return sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").exists())


def load(name: str, **kwargs):
    """`evaluate.load` of the local metric `name` (keyword arguments go to `evaluate.load`)."""
    if name not in available():
        raise KeyError(f"unknown metric {name!r}; local metrics: {', '.join(available())}")
    import evaluate

    return evaluate.load(str(METRICS_DIR / name), **kwargs)
