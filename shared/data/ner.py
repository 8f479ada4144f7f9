"""A small gold NER set written for the project (data/ner_gold.jsonl), in BIO form.

Each line holds a sentence with its entities in brackets, "[PER Angela Merkel] met ...", typed with
the CoNLL-2003 scheme (PER, ORG, LOC, MISC). The loader checks the file's SHA-256, so a changed
file cannot silently change the evaluation. Provenance: data/README.md.
"""
import hashlib
import re

from datasets import Dataset, DatasetDict

from ..paths import data_dir
from .registry import dataset, jsonl_rows

SPAN = re.compile(r"\[(PER|ORG|LOC|MISC) ([^\]]+)\]|(\S+)")




def parse_annotated(annotated: str) -> tuple[list[str], list[str]]:
    """Whitespace tokens and BIO tags of a sentence written as "[TYPE words] other words"."""
    tokens, tags = [], []
    for entity_type, entity, word in SPAN.findall(annotated):
        if word:
            tokens.append(word)
            tags.append("O")
        else:
            words = entity.split()
            tokens += words
            tags += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (len(words) - 1)
    return tokens, tags


NER_GOLD_SHA256 = "381b21730f4097e7be9ea3e1eaf1c3a51e90a8d3c6356d3c1339069d369eac90"


@dataset("ner_gold", ["id", "domain", "tokens", "tags", "annotated"],
         "48 sentences with CoNLL-type entities in BIO tags: 32 news-style, 16 informal lower-case posts",
         "the same file in both profiles (written for this course)", full=None)
def _ner_gold():
    digest = hashlib.sha256((data_dir() / "ner_gold.jsonl").read_bytes()).hexdigest()
    if digest != NER_GOLD_SHA256:
        raise RuntimeError(f"data/ner_gold.jsonl has SHA-256 {digest}, expected {NER_GOLD_SHA256}")
    rows = []
    for row in jsonl_rows("ner_gold.jsonl"):
        tokens, tags = parse_annotated(row["annotated"])
        rows.append({**row, "tokens": tokens, "tags": tags})
    return DatasetDict(test=Dataset.from_list(rows))
