"""The dataset registry: each named dataset has a tiny builder (offline files) and a full one (the
hub), both returning the same columns.

    @dataset("imdb", ["text", "label"], "IMDB movie reviews", "stanfordnlp/imdb", full=...)
    def _imdb_tiny(): ...

`load_dataset(name)` builds the active profile's version once per process. The helpers below
(`hub`, `hub_sample`, `seeded_split`, `jsonl_rows`) are what the builders in this package share.
"""
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

from datasets import Dataset, DatasetDict

from ..paths import data_dir
from ..profile import active_profile, require_hub

SPLIT_SEED = 0  # every tiny train/test split below is drawn with this seed


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    columns: tuple[str, ...]        # the schema both builders return
    description: str
    full_source: str                # hub id used by the full profile (or why both profiles share the files)
    tiny: Callable[[], DatasetDict]
    full: Callable[[], DatasetDict] | None  # None: the offline files are the whole dataset, used in both


DATASETS: dict[str, DatasetSpec] = {}


def dataset(name, columns, description, full_source, full):
    """Register `tiny_builder` under `name`; `full` builds the same schema from the hub, or is None
    when the offline files already hold the whole dataset (both profiles then read them)."""
    def register(tiny_builder):
        DATASETS[name] = DatasetSpec(name, tuple(columns), description, full_source, tiny_builder, full)
        return tiny_builder
    return register


@functools.cache
def _load_cached(name: str, profile: str) -> DatasetDict:
    spec = DATASETS[name]
    if profile == "full" and spec.full is not None:
        require_hub(f"the full {name!r} dataset ({spec.full_source})")
    data = spec.full() if profile == "full" and spec.full is not None else spec.tiny()
    for split, ds in data.items():
        missing = set(spec.columns) - set(ds.column_names)
        if missing:
            raise RuntimeError(f"{name}/{split} lacks columns {sorted(missing)}")
    return data


def load_dataset(name: str, profile: str | None = None) -> DatasetDict:
    """The named dataset for the active profile (or the one given)."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return _load_cached(name, profile or active_profile().name)


def hub(*args, **kwargs):
    import datasets

    return datasets.load_dataset(*args, **kwargs)


def hub_sample(path, config, split, n, column_map):
    """First `n` rows of a (large) hub dataset, streamed, so nothing huge is downloaded."""
    stream = hub(path, config, split=split, streaming=True)
    rows = [{new: row[old] for new, old in column_map.items()} for row, _ in zip(stream, range(n))]
    return Dataset.from_list(rows)


def seeded_split(ds: Dataset, test_size: float) -> DatasetDict:
    parts = ds.train_test_split(test_size=test_size, seed=SPLIT_SEED)
    return DatasetDict(train=parts["train"], test=parts["test"])


def jsonl_rows(filename: str) -> list[dict]:
    """The rows of a JSON-lines file in the repository's data/ folder."""
    return [json.loads(line) for line in (data_dir() / filename).read_text(encoding="utf-8").splitlines()]


def describe() -> list[dict]:
    """One row per registered dataset (for `journey assets` and the README)."""
    return [{"name": s.name, "columns": ", ".join(s.columns), "full": s.full_source,
             "description": s.description} for s in DATASETS.values()]
