"""shared.text.ner and the gold NER set (data/ner_gold.jsonl): BIO parsing, word-piece alignment,
the chunk-grammar tagger, and the set's checked contents."""
import pytest

from shared.data import load_dataset
from shared.data.ner import parse_annotated
from shared.text import ner


def test_parse_annotated():
    tokens, tags = parse_annotated("[PER Angela Merkel] visited [LOC Paris] .")
    assert tokens == ["Angela", "Merkel", "visited", "Paris", "."]
    assert tags == ["B-PER", "I-PER", "O", "B-LOC", "O"]


def test_align_labels_first_piece_only():
    word_ids = [None, 0, 1, 1, 1, 2, None]          # [CLS] w0 w1 w1 w1 w2 [SEP]
    assert ner.align_labels(word_ids, [3, 1, 0]) == [-100, 3, 1, -100, -100, 0, -100]


def test_align_labels_with_a_real_tokenizer():
    transformers = pytest.importorskip("transformers")
    try:
        from shared.models import tiny_model_dir
        tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir("encoder"))
    except FileNotFoundError:
        pytest.skip("encoder not installed (journey assets)")
    words, tags = parse_annotated("[PER Maria Sharapova] lost in [LOC Melbourne] .")
    batch = ner.encode(tokenizer, [words], [tags])
    labels = batch["labels"][0].tolist()
    assert sum(label != -100 for label in labels) == len(words)
    assert [ner.LABELS[label] for label in labels if label != -100] == tags


def test_repair_bio():
    assert ner.repair_bio([["O", "I-PER", "I-PER", "I-LOC"]]) == [["O", "B-PER", "I-PER", "B-LOC"]]


def test_nltk_chunk_tags():
    tokens = ["President", "Joe", "Biden", "met", "Siemens", "Bank", "officials", "in", "Berlin", "."]
    pos = ["NNP", "NNP", "NNP", "VBD", "NNP", "NNP", "NNS", "IN", "NNP", "."]
    tags = ner.nltk_chunk_tags(tokens, pos)
    assert tags[4:6] == ["B-ORG", "I-ORG"] and tags[8] == "B-LOC" and tags[3] == "O"


def test_gold_set_contents():
    gold = load_dataset("ner_gold", profile="tiny")["test"]
    assert len(gold) == 48 and gold["id"] == [f"ner-{i:03d}" for i in range(1, 49)]
    assert sorted(set(gold["domain"])) == ["informal", "news"]
    for row in gold:
        assert len(row["tokens"]) == len(row["tags"]) and all(t in ner.LABELS for t in row["tags"])
        assert "[" not in " ".join(row["tokens"]), row["id"]      # every bracket was parsed
    entities = sum(t.startswith("B-") for tags in gold["tags"] for t in tags)
    assert entities == 112
    assert all(w == w.lower() for row in gold if row["domain"] == "informal" for w in row["tokens"])
