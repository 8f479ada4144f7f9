"""The raw offline corpora that installed packages ship: the Wikipedia sample and the Lee news
corpus in gensim's test data, read as plain rows.

`shared.data` wraps them as named datasets, and `shared.assets` trains NLTK's sentence splitter on
the Wikipedia text; nothing here imports the rest of `shared` except `paths`.
"""
import bz2
import json
import re
from pathlib import Path

from .paths import cache_dir

WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def _clean_wiki(markup: str) -> str:
    from gensim.corpora.wikicorpus import filter_wiki

    text = filter_wiki(markup)
    text = re.sub(r"'{2,}", "", text)                 # '''bold''' and ''italic'' quotes
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.M)  # == Heading == -> Heading
    lines = [line.strip() for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def wikipedia_articles() -> list[dict]:
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


def lee_docs(filename: str) -> list[dict]:
    from gensim.test.utils import datapath

    lines = Path(datapath(filename)).read_text(encoding="latin-1").splitlines()
    return [{"text": line.strip()} for line in lines if line.strip()]
