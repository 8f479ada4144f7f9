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


def test_conll2003_full_builder_maps_tag_ids_through_the_feature_names(monkeypatch):
    """The full builder (offline: a stand-in for the hub's copy, with CoNLL-2003's own features)."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

    from shared.data import DATASETS
    from shared.data import ner as ner_data

    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]  # the card's order
    features = Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=names))})
    row = {"tokens": [["EU", "rejects", "German", "call"]], "ner_tags": [[3, 0, 7, 0]]}
    calls = []

    def fake_hub(*args, **kwargs):
        calls.append((args, kwargs))
        return DatasetDict({split: Dataset.from_dict(row, features=features) for split in ("train", "validation", "test")})

    monkeypatch.setattr(ner_data, "hub", fake_hub)
    data = DATASETS["conll2003"].full()
    assert calls[0][0] == ("eriktks/conll2003",)
    assert list(data) == ["train", "validation", "test"]
    assert data["test"][0] == {"tokens": ["EU", "rejects", "German", "call"], "tags": ["B-ORG", "O", "B-MISC", "O"]}
    assert set(names) == set(ner.LABELS)  # the classifier's labels are CoNLL's


def test_conll2003_tiny_is_silver_news_and_the_gold_set():
    data = load_dataset("conll2003", profile="tiny")
    gold = load_dataset("ner_gold", profile="tiny")["test"]
    assert data["test"]["tokens"] == gold["tokens"] and data["test"]["tags"] == gold["tags"]
    train, validation = data["train"]["tokens"], data["validation"]["tokens"]
    assert len(train) == ner.FINETUNE_RECIPE["n_sentences"]          # what the cached ner_minilm learned from
    assert not {tuple(s) for s in train} & {tuple(s) for s in validation}
    for split in ("train", "validation"):
        for tokens, tags in zip(data[split]["tokens"], data[split]["tags"]):
            assert len(tokens) == len(tags) and 6 <= len(tokens) <= 40 and set(tags) <= set(ner.LABELS)


def test_finetune_keeps_the_epoch_with_the_best_validation_f1():
    transformers = pytest.importorskip("transformers")
    from seqeval.metrics import f1_score

    try:
        from shared.models import tiny_model_dir
        tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir("encoder"))
    except FileNotFoundError:
        pytest.skip("encoder not installed (journey assets)")
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=64, num_labels=len(ner.LABELS),
                                     id2label=dict(enumerate(ner.LABELS)), label2id={x: i for i, x in enumerate(ner.LABELS)})
    transformers.set_seed(0)
    model = transformers.BertForTokenClassification(config)
    gold = load_dataset("ner_gold", profile="tiny")["test"]
    sentences, tags = list(gold["tokens"]), list(gold["tags"])
    scores = []
    ner.finetune(model, tokenizer, sentences[:32], tags[:32], epochs=3, batch_size=8, lr=3e-3, max_length=48,
                 seed=0, validation=(sentences[32:], tags[32:]), validation_f1=scores)
    assert len(scores) == 3
    assert f1_score(tags[32:], ner.predict_tags(model, tokenizer, sentences[32:])) == pytest.approx(max(scores))
