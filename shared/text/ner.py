"""Named entity recognition: BIO tags from bracketed annotations, spaCy's entities in the CoNLL
scheme, an NLTK chunk-grammar tagger, word-piece label alignment for a transformer token
classifier, its fine-tuning (the number of epochs chosen on validation F1), and the cached run of the
tiny profile: MiniLM fine-tuned on the tiny `conll2003` train split, spaCy-labelled ("silver") news.

    tokens, tags = parse_annotated("[PER Angela Merkel] visited [LOC Paris] .")
    # ['Angela', 'Merkel', 'visited', 'Paris', '.'], ['B-PER', 'I-PER', 'O', 'B-LOC', 'O']
"""
import json

from ..assets import register_derived
from ..data.ner import SPACY_TO_CONLL, doc_tags, parse_annotated, silver_sentences  # noqa: F401  (re-exported)

TYPES = ("PER", "ORG", "LOC", "MISC")                  # the CoNLL-2003 entity types
LABELS = ["O"] + [f"{p}-{t}" for t in TYPES for p in ("B", "I")]


def spacy_tags(nlp, tokens: list[str]) -> list[str]:
    """BIO tags (CoNLL types) that a spaCy pipeline assigns to pre-tokenised words."""
    from spacy.tokens import Doc

    doc = nlp(Doc(nlp.vocab, words=tokens))
    return doc_tags(doc)


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


def finetune(model, tokenizer, sentences, tags, epochs, batch_size, lr, max_length, seed, log=None,
             validation=None, validation_f1=None):
    """A plain PyTorch loop: AdamW, linear decay, cross-entropy on the first piece of each word
    (float16 autocast on a GPU). With `validation` = (sentences, tags), the entity F1 on it is
    measured after each epoch (appended to `validation_f1`) and the best epoch's weights are kept:
    the number of epochs is chosen on validation, never on the test split."""
    import torch

    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    steps = epochs * ((len(sentences) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    generator = torch.Generator().manual_seed(seed)
    on_gpu = model.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=on_gpu)
    best_f1, best_state = -1.0, None
    model.train()
    for _epoch in range(epochs):
        order = torch.randperm(len(sentences), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = encode(tokenizer, [sentences[i] for i in rows], [tags[i] for i in rows], max_length)
            with torch.autocast("cuda", dtype=torch.float16, enabled=on_gpu):
                loss = model(**{k: v.to(model.device) for k, v in batch.items()}).loss
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            optimizer.zero_grad()
            if log is not None:
                log.append(loss.item())
        if validation is not None:
            from seqeval.metrics import f1_score

            score = f1_score(validation[1], predict_tags(model, tokenizer, validation[0]))
            if validation_f1 is not None:
                validation_f1.append(score)
            if score > best_f1:
                best_f1, best_state = score, {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.train()
    if best_state is not None:
        model.load_state_dict(best_state)
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

    from ..data import load_dataset

    torch.set_num_threads(1)
    r = FINETUNE_RECIPE
    train = load_dataset("conll2003", profile="tiny")["train"]  # the notebook's train split: spaCy-labelled news
    sentences, tags = list(train["tokens"]), list(train["tags"])
    assert len(sentences) == r["n_sentences"], "the recipe must describe the tiny conll2003 train split"
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
