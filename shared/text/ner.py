"""Named entity recognition: BIO tags from bracketed annotations, spaCy's entities in the CoNLL
scheme, an NLTK chunk-grammar tagger, word-piece label alignment for a transformer token
classifier, and the cached fine-tuning of MiniLM on spaCy-labelled ("silver") news sentences.

    tokens, tags = parse_annotated("[PER Angela Merkel] visited [LOC Paris] .")
    # ['Angela', 'Merkel', 'visited', 'Paris', '.'], ['B-PER', 'I-PER', 'O', 'B-LOC', 'O']
"""
import json

from ..assets import register_derived
from ..data.ner import parse_annotated  # noqa: F401  (re-exported: the gold set's format)

TYPES = ("PER", "ORG", "LOC", "MISC")                  # the CoNLL-2003 entity types
LABELS = ["O"] + [f"{p}-{t}" for t in TYPES for p in ("B", "I")]
# spaCy's OntoNotes types -> CoNLL types; dates, numbers, money and the like are not entities there
SPACY_TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
                  "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "PRODUCT": "MISC", "LAW": "MISC",
                  "LANGUAGE": "MISC"}
def spacy_tags(nlp, tokens: list[str]) -> list[str]:
    """BIO tags (CoNLL types) that a spaCy pipeline assigns to pre-tokenised words."""
    from spacy.tokens import Doc

    doc = nlp(Doc(nlp.vocab, words=tokens))
    return doc_tags(doc)


def doc_tags(doc) -> list[str]:
    tags = ["O"] * len(doc)
    for ent in doc.ents:
        conll = SPACY_TO_CONLL.get(ent.label_)
        if conll:
            tags[ent.start] = f"B-{conll}"
            for i in range(ent.start + 1, ent.end):
                tags[i] = f"I-{conll}"
    return tags


# --- an NLTK pipeline: POS tags -> RegexpParser chunks -> a type from cue words ------------------
CHUNK_GRAMMAR = r"""
  NE: {<NNP|NNPS>+(<IN><NNP|NNPS>+)?}   # proper nouns, with "of" inside: "Bank of England"
"""
ORG_CUES = {"inc", "corp", "ltd", "company", "bank", "party", "ministry", "university", "council", "agency",
            "commission", "fund", "organization", "organisation", "union", "academy", "reserve", "house", "post",
            "fbi", "un", "nato", "eu"}
LOC_BEFORE = {"in", "at", "from", "to", "near", "across", "into", "outside", "of"}
PERSON_TITLES = {"mr", "mrs", "ms", "dr", "president", "pope", "minister", "chancellor", "footballer", "executive"}


def nltk_chunk_tags(tokens: list[str], pos: list[str]) -> list[str]:
    """BIO tags from NLTK's RegexpParser over Penn Treebank POS tags, typed by simple cues: an
    organisation word inside the chunk -> ORG; a title before it -> PER; a locative preposition
    before it -> LOC; two or three capitalised words -> PER; else MISC."""
    import nltk

    tree = nltk.RegexpParser(CHUNK_GRAMMAR).parse(list(zip(tokens, pos)))
    tags, i = [], 0
    for node in tree:
        if isinstance(node, nltk.Tree):
            words = [w for w, _ in node.leaves()]
            before = tokens[i - 1].lower() if i > 0 else ""
            if any(w.lower().strip(".") in ORG_CUES for w in words):
                entity_type = "ORG"
            elif before in PERSON_TITLES:
                entity_type = "PER"
            elif before in LOC_BEFORE:
                entity_type = "LOC"
            elif 2 <= len(words) <= 3:
                entity_type = "PER"
            else:
                entity_type = "MISC"
            tags += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (len(words) - 1)
            i += len(words)
        else:
            tags.append("O")
            i += 1
    return tags


# --- word pieces: one label per word, on its first piece -----------------------------------------
def align_labels(word_ids: list[int | None], word_labels: list[int], ignore: int = -100) -> list[int]:
    """Labels for the word pieces of one sentence: the first piece of each word gets the word's
    label, later pieces and special tokens ([CLS], [SEP], padding) get `ignore` (skipped by the loss)."""
    labels, previous = [], None
    for word_id in word_ids:
        labels.append(ignore if word_id is None or word_id == previous else word_labels[word_id])
        previous = word_id
    return labels


def encode(tokenizer, sentences: list[list[str]], tags: list[list[str]] | None = None, max_length: int = 128):
    """Tokenise pre-split words into word pieces; with `tags`, add aligned `labels`."""
    batch = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length,
                      padding=True, return_tensors="pt")
    if tags is not None:
        import torch

        label_ids = [[LABELS.index(t) for t in sentence_tags] for sentence_tags in tags]
        batch["labels"] = torch.tensor([align_labels(batch.word_ids(i), label_ids[i]) for i in range(len(sentences))])
    return batch


def predict_tags(model, tokenizer, sentences: list[list[str]], batch_size: int = 32) -> list[list[str]]:
    """BIO tags per word: the label predicted on each word's first piece."""
    import torch

    model.eval()
    out = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        batch = encode(tokenizer, chunk)
        with torch.no_grad():
            predicted = model(**{k: v.to(model.device) for k, v in batch.items()}).logits.argmax(-1).cpu()  # (B, T)
        for i, words in enumerate(chunk):
            firsts = {}
            for position, word_id in enumerate(batch.word_ids(i)):
                if word_id is not None and word_id not in firsts:
                    firsts[word_id] = int(predicted[i, position])
            out.append([model.config.id2label[firsts[w]] if w in firsts else "O" for w in range(len(words))])
    return repair_bio(out)


def repair_bio(sequences: list[list[str]]) -> list[list[str]]:
    """An I- tag that does not continue an entity of its type starts one (I-PER after O -> B-PER)."""
    fixed = []
    for tags in sequences:
        row, previous = [], "O"
        for tag in tags:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                tag = "B-" + tag[2:]
            row.append(tag)
            previous = tag
        fixed.append(row)
    return fixed


# --- silver training data and the cached fine-tuning ------------------------------------------
FINETUNE_RECIPE = {"n_sentences": 800, "min_words": 6, "max_words": 40, "epochs": 3, "batch_size": 16, "lr": 2e-4,
                   "max_length": 64, "seed": 0, "teacher": "en_core_web_sm 3.8.0", "version": 1}


def silver_sentences(nlp, n_sentences: int, min_words: int, max_words: int, seed: int = 0):
    """(tokens, tags) of `n_sentences` sentences from the news articles, labelled by spaCy."""
    import numpy as np

    from ..data import load_dataset

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


def finetune(model, tokenizer, sentences, tags, epochs, batch_size, lr, max_length, seed, log=None):
    """A plain PyTorch loop: AdamW, linear decay, cross-entropy on the first piece of each word."""
    import torch

    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    steps = epochs * ((len(sentences) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(sentences), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = encode(tokenizer, [sentences[i] for i in rows], [tags[i] for i in rows], max_length)
            loss = model(**{k: v.to(model.device) for k, v in batch.items()}).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            if log is not None:
                log.append(loss.item())
    model.eval()
    return model


def load_token_classifier(source=None):
    """(model, tokenizer): the profile's encoder with a new token-classification head over LABELS."""
    from transformers import AutoModelForTokenClassification

    from ..models import load_encoder

    return load_encoder(source, model_class=AutoModelForTokenClassification, num_labels=len(LABELS),
                        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)})


def _build_finetuned(out) -> None:
    import torch

    from ..models import load_spacy

    torch.set_num_threads(1)
    r = FINETUNE_RECIPE
    sentences, tags = silver_sentences(load_spacy(), r["n_sentences"], r["min_words"], r["max_words"], r["seed"])
    torch.manual_seed(r["seed"])
    model, tokenizer = load_token_classifier()
    log = []
    finetune(model, tokenizer, sentences, tags, r["epochs"], r["batch_size"], r["lr"], r["max_length"], r["seed"], log)
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    (out / "training.json").write_text(json.dumps({"loss": log, "n_sentences": len(sentences)}))


def _recipe() -> str:
    return json.dumps(FINETUNE_RECIPE, sort_keys=True)


register_derived("ner_minilm", "all-MiniLM-L6-v2 fine-tuned for token classification on spaCy-labelled news "
                 "sentences (notebook 11/05, tiny profile)", _build_finetuned, _recipe)
