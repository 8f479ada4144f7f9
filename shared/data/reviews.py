"""Movie reviews labelled by sentiment: IMDB and Rotten Tomatoes."""
import csv
import functools

from datasets import Dataset, DatasetDict

from ..assets import require
from .registry import dataset, hub, seeded_split

# --- movie reviews: IMDB and Rotten Tomatoes --------------------------------------------------

@functools.cache
def _movie_review_rows(source: str) -> list[dict]:
    with open(require("imdb_csv"), newline="", encoding="utf-8") as f:
        return [{"text": row["text"], "label": int(row["label"])}
                for row in csv.DictReader(f) if row["source"] == source]


@dataset("imdb", ["text", "label"], "IMDB movie reviews, label 1 = positive",
         "stanfordnlp/imdb",
         full=lambda: DatasetDict(train=hub("stanfordnlp/imdb", split="train"),
                                  test=hub("stanfordnlp/imdb", split="test")))
def _imdb_tiny():
    # The offline package ships IMDB's 25,000 labelled training reviews; we hold out 20% as test.
    return seeded_split(Dataset.from_list(_movie_review_rows("imdb")), test_size=0.2)


@dataset("rotten_tomatoes", ["text", "label"], "Rotten Tomatoes review sentences, label 1 = positive",
         "cornell-movie-review-data/rotten_tomatoes",
         full=lambda: DatasetDict(train=hub("cornell-movie-review-data/rotten_tomatoes", split="train"),
                                  test=hub("cornell-movie-review-data/rotten_tomatoes", split="test")))
def _rotten_tomatoes_tiny():
    return seeded_split(Dataset.from_list(_movie_review_rows("rotten_tomatoes")), test_size=0.2)
