"""Named datasets with one schema in both profiles.

    from shared.data import load_dataset
    imdb = load_dataset("imdb")          # DatasetDict: train/test with columns text, label

`tiny` reads files that installable packages ship (or small files under data/), offline;
`full` reads the hub dataset the task names. Provenance and licenses: data/README.md.
Add a dataset with the `@dataset(...)` decorator: a tiny builder, a full builder, same columns.
"""
import bz2
import csv
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from datasets import Dataset, DatasetDict

from .assets import require
from .paths import cache_dir
from .profile import active_profile, require_hub

SPLIT_SEED = 0  # every tiny train/test split below is drawn with this seed


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    columns: tuple[str, ...]        # the schema both builders return
    description: str
    full_source: str                # hub id used by the full profile
    tiny: Callable[[], DatasetDict]
    full: Callable[[], DatasetDict]


DATASETS: dict[str, DatasetSpec] = {}


def dataset(name, columns, description, full_source, full):
    """Register `tiny_builder` under `name`; `full` builds the same schema from the hub."""
    def register(tiny_builder):
        DATASETS[name] = DatasetSpec(name, tuple(columns), description, full_source, tiny_builder, full)
        return tiny_builder
    return register


@functools.cache
def _load_cached(name: str, profile: str) -> DatasetDict:
    spec = DATASETS[name]
    if profile == "full":
        require_hub(f"the full {name!r} dataset ({spec.full_source})")
    data = spec.tiny() if profile == "tiny" else spec.full()
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


def _hub(*args, **kwargs):
    import datasets

    return datasets.load_dataset(*args, **kwargs)


def _hub_sample(path, config, split, n, column_map):
    """First `n` rows of a (large) hub dataset, streamed, so nothing huge is downloaded."""
    stream = _hub(path, config, split=split, streaming=True)
    rows = [{new: row[old] for new, old in column_map.items()} for row, _ in zip(stream, range(n))]
    return Dataset.from_list(rows)


def _split(ds: Dataset, test_size: float) -> DatasetDict:
    parts = ds.train_test_split(test_size=test_size, seed=SPLIT_SEED)
    return DatasetDict(train=parts["train"], test=parts["test"])


# --- Wikipedia --------------------------------------------------------------------------------

WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def _clean_wiki(markup: str) -> str:
    from gensim.corpora.wikicorpus import filter_wiki

    text = filter_wiki(markup)
    text = re.sub(r"'{2,}", "", text)                 # '''bold''' and ''italic'' quotes
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.M)  # == Heading == -> Heading
    lines = [line.strip() for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _wiki_articles() -> list[dict]:
    """The 106 real articles (redirects dropped) of the Wikipedia sample in gensim's test data."""
    cached = cache_dir() / "wikipedia_sample.jsonl"
    if cached.exists():
        return [json.loads(line) for line in cached.read_text().splitlines()]
    from gensim.corpora.wikicorpus import extract_pages
    from gensim.test.utils import datapath

    with bz2.open(datapath(WIKI_DUMP)) as dump:
        rows = [{"title": title, "text": _clean_wiki(markup)}
                for title, markup, _ in extract_pages(dump)
                if not markup.lower().startswith("#redirect")]
    cached.write_text("\n".join(json.dumps(row) for row in rows))
    return rows


@dataset("wikipedia", ["title", "text"], "English Wikipedia articles",
         "wikimedia/wikipedia 20231101.en (first 20,000 articles, streamed)",
         full=lambda: DatasetDict(train=_hub_sample(
             "wikimedia/wikipedia", "20231101.en", "train", 20_000, {"title": "title", "text": "text"})))
def _wikipedia_tiny():
    return DatasetDict(train=Dataset.from_list(_wiki_articles()))


# --- news (Lee corpus) ------------------------------------------------------------------------

def _lee_docs(filename: str) -> list[dict]:
    from gensim.test.utils import datapath

    lines = Path(datapath(filename)).read_text(encoding="latin-1").splitlines()
    return [{"text": line.strip()} for line in lines if line.strip()]


@dataset("news", ["text"], "short news articles",
         "fancyzhx/ag_news (text column)",
         full=lambda: DatasetDict(train=_hub("fancyzhx/ag_news", split="train").select_columns(["text"]),
                                  test=_hub("fancyzhx/ag_news", split="test").select_columns(["text"])))
def _news_tiny():
    return DatasetDict(train=Dataset.from_list(_lee_docs("lee_background.cor")),
                       test=Dataset.from_list(_lee_docs("lee.cor")))


# --- movie reviews: IMDB and Rotten Tomatoes --------------------------------------------------

@functools.cache
def _movie_review_rows(source: str) -> list[dict]:
    with open(require("imdb_csv"), newline="", encoding="utf-8") as f:
        return [{"text": row["text"], "label": int(row["label"])}
                for row in csv.DictReader(f) if row["source"] == source]


@dataset("imdb", ["text", "label"], "IMDB movie reviews, label 1 = positive",
         "stanfordnlp/imdb",
         full=lambda: DatasetDict(train=_hub("stanfordnlp/imdb", split="train"),
                                  test=_hub("stanfordnlp/imdb", split="test")))
def _imdb_tiny():
    # The offline package ships IMDB's 25,000 labelled training reviews; we hold out 20% as test.
    return _split(Dataset.from_list(_movie_review_rows("imdb")), test_size=0.2)


@dataset("rotten_tomatoes", ["text", "label"], "Rotten Tomatoes review sentences, label 1 = positive",
         "cornell-movie-review-data/rotten_tomatoes",
         full=lambda: DatasetDict(train=_hub("cornell-movie-review-data/rotten_tomatoes", split="train"),
                                  test=_hub("cornell-movie-review-data/rotten_tomatoes", split="test")))
def _rotten_tomatoes_tiny():
    return _split(Dataset.from_list(_movie_review_rows("rotten_tomatoes")), test_size=0.2)


def describe() -> list[dict]:
    """One row per registered dataset (for `journey assets` and the README)."""
    return [{"name": s.name, "columns": ", ".join(s.columns), "full": s.full_source,
             "description": s.description} for s in DATASETS.values()]
