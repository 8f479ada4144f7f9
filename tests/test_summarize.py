"""Long-document summarisation: chunking, TextRank (against networkx and a hand-computed graph),
the faithfulness check, the news_summaries data, and the strategies' bookkeeping with a fake model."""
import math

import networkx as nx
import numpy as np
import pytest

from shared.text.chunking import chunk_ids, chunk_spans, coverage
from shared.text.faithfulness import entity_recall, is_supported, normalize, numbers
from shared.text.textrank import (
    lead_summary,
    overlap_similarity,
    pagerank_power,
    random_summary,
    sentence_graph,
    textrank_scores,
    textrank_summary,
)


# --- chunking -------------------------------------------------------------------------------------
def test_chunk_spans_worked_example():
    assert chunk_spans(500, 200, 40) == [(0, 200), (160, 360), (320, 500)]
    assert chunk_spans(150, 200, 40) == [(0, 150)]          # fits: one chunk
    assert chunk_spans(200, 200, 40) == [(0, 200)]


@pytest.mark.parametrize("n", [1, 7, 199, 200, 201, 451, 1000])
@pytest.mark.parametrize("size,overlap", [(10, 0), (64, 8), (200, 24), (5, 4)])
def test_chunks_cover_every_token_and_overlap_as_asked(n, size, overlap):
    spans = chunk_spans(n, size, overlap)
    assert coverage(spans, n).min() == 1                      # nothing dropped
    assert all(end - start <= size for start, end in spans)   # each fits
    assert all(spans[i + 1][0] == spans[i][1] - overlap for i in range(len(spans) - 2))  # stride = size - overlap
    ids = list(range(n))
    rebuilt = []
    for (start, _), chunk in zip(spans, chunk_ids(ids, size, overlap)):
        rebuilt += chunk[len(rebuilt) - start:]               # drop what the previous chunk already held
    assert rebuilt == ids


def test_chunking_refuses_bad_sizes():
    with pytest.raises(ValueError, match="overlap"):
        chunk_spans(100, 10, 10)
    with pytest.raises(ValueError, match="chunk_tokens"):
        chunk_spans(100, 0)


# --- TextRank --------------------------------------------------------------------------------------
def test_overlap_similarity_by_hand():
    a, b = {"court", "ban", "headscarf"}, {"court", "ruling", "ban", "employer"}
    assert overlap_similarity(a, b) == pytest.approx(2 / (math.log(3) + math.log(4)))
    assert overlap_similarity({"x"}, {"y"}) == 0.0
    assert overlap_similarity({"x"}, {"x"}) == 1.0            # zero denominator


def test_pagerank_of_a_path_graph_computed_by_hand():
    # a - b - c, unit weights, d = 0.85: PR(a) = PR(c) = x, PR(b) = y with
    # x = 0.05 + 0.85 * y / 2 and y = 0.05 + 0.85 * 2x  ->  x = 0.07125 / 0.2775, y = 0.05 + 1.7x
    x = 0.07125 / 0.2775
    expected = [x, 0.05 + 1.7 * x, x]
    weights = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    assert pagerank_power(weights) == pytest.approx(expected, abs=1e-10)
    ranks = nx.pagerank(nx.from_numpy_array(weights), alpha=0.85, tol=1e-12, max_iter=1000)
    assert [ranks[i] for i in range(3)] == pytest.approx(expected, abs=1e-8)


def test_pagerank_power_matches_networkx_on_a_sentence_graph():
    sentences = ["The court banned headscarves at work.", "The ban applies to all religious signs at work.",
                 "A receptionist was fired for wearing a headscarf at work.", "It rained.",
                 "The court said the ban must apply to all employees."]
    graph = sentence_graph(sentences)
    weights = nx.to_numpy_array(graph, nodelist=range(len(sentences)), weight="weight")
    assert pagerank_power(weights) == pytest.approx(textrank_scores(sentences), abs=1e-8)
    scores = textrank_scores(sentences)
    assert sum(scores) == pytest.approx(1.0)
    assert np.argmin(scores) == 3                               # the isolated sentence ranks last


def test_extractive_summaries_keep_document_order():
    sentences = ["Alpha beta gamma.", "Delta epsilon.", "Beta gamma alpha again.", "Gamma beta alpha once more."]
    assert lead_summary(sentences, 2) == "Alpha beta gamma. Delta epsilon."
    summary = textrank_summary(sentences, 2)
    assert "Delta" not in summary and summary.index("Alpha") < summary.index("again")
    chosen = random_summary(sentences, 3, np.random.default_rng(0))
    assert [s for s in sentences if s in chosen] == sorted((s for s in sentences if s in chosen), key=sentences.index)
    assert sum(s in chosen for s in sentences) == 3


# --- faithfulness ----------------------------------------------------------------------------------
def test_normalize_and_numbers():
    assert normalize("The European Court of Justice's") == "european court of justice"
    assert numbers("3,000 troops, $5.5 billion, in 2017.") == {"3000", "5.5", "2017"}


def test_entity_support_rules():
    source = "President Ernest Bai Koroma thanked the chief. The European Court of Justice ruled."
    assert is_supported("Koroma", source)                       # every word is in the source
    assert is_supported("the European Court of Justice", source)
    assert not is_supported("Geneva", source)
    assert not is_supported("Ernest Hemingway", source)         # one word missing


def test_faithfulness_with_spacy():
    from shared.models import load_spacy
    from shared.text.faithfulness import faithfulness

    try:
        nlp = load_spacy()
    except Exception as missing:  # noqa: BLE001  (asset not installed on this machine)
        pytest.skip(f"spaCy pipeline not installed: {missing}")
    source = nlp("Angela Merkel met Emmanuel Macron in Berlin on Monday to discuss 3,000 jobs.")
    check = faithfulness(source, nlp("Angela Merkel met Boris Johnson in Berlin about 4,000 jobs."))
    assert "Boris Johnson" in check["hallucinated"] and "Berlin" not in check["hallucinated"]
    assert check["unsupported_numbers"] == ["4000"]
    assert faithfulness(source, source)["hallucinated"] == []   # an extract of the source is faithful
    assert entity_recall(source, nlp("Angela Merkel and Emmanuel Macron talked.")) == pytest.approx(2 / 3)  # Berlin missing


# --- data ----------------------------------------------------------------------------------------
def test_news_summaries_are_long_articles_with_written_summaries():
    from shared.assets import AssetMissing
    from shared.data import load_dataset

    try:
        data = load_dataset("news_summaries", profile="tiny")
    except AssetMissing as missing:
        pytest.skip(f"news articles not installed: {missing}")
    assert {split: len(rows) for split, rows in data.items()} == {"validation": 4, "test": 10}
    ids = list(data["validation"]["id"]) + list(data["test"]["id"])
    assert len(set(ids)) == len(ids)
    for split in data.values():
        for row in split:
            assert 280 <= len(row["document"].split()) <= 400
            assert 30 <= len(row["summary"].split()) <= 60
            assert numbers(row["summary"]) <= numbers(row["document"])  # the references state only the article's numbers


# --- the strategies, with a fake model -------------------------------------------------------------
class FakeTokenizer:
    """Whitespace "tokens": ids index a growing vocabulary; the chat template is the text itself."""
    eos_token_id, pad_token_id = 0, 1

    def __init__(self):
        self.vocab = ["<eos>", "<pad>"]

    def __call__(self, text, add_special_tokens=False):
        ids = []
        for word in text.split():
            if word not in self.vocab:
                self.vocab.append(word)
            ids.append(self.vocab.index(word))
        return {"input_ids": ids}

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(self.vocab[i] for i in ids if not (skip_special_tokens and i < 2))

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False):
        return " ".join(m["content"] for m in messages)


class FakeModel:
    """Replies with the first three words of the prompt's last line that holds text, then <eos>."""
    device = "cpu"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def generate(self, input_ids, attention_mask, max_new_tokens, do_sample, pad_token_id):
        import torch

        rows = []
        for row in input_ids.tolist():
            words = [i for i in row if i > 1][:3]
            rows.append(row + (words + [0] + [1] * max_new_tokens)[:max_new_tokens])
        return torch.tensor(rows)


def test_strategies_count_calls_and_stay_in_the_budget():
    from shared.apps.summarize import (
        Generator,
        complete_sentences,
        map_reduce,
        refine,
        truncate,
    )

    tokenizer = FakeTokenizer()
    generator = Generator(FakeModel(tokenizer), tokenizer, context_tokens=80, max_new_tokens=8, system="Be brief.")
    document = " ".join(f"w{i}" for i in range(150))
    n_chunks = len(chunk_spans(150, 40, 8))
    mr = map_reduce(generator, document, chunk_tokens=40, overlap_tokens=8)
    assert mr["n_chunks"] == n_chunks == 5 and mr["cost"]["calls"] == n_chunks + 1   # 5 maps + 1 reduce
    rf = refine(generator, document, chunk_tokens=40, overlap_tokens=8)
    assert rf["cost"]["calls"] == n_chunks and len(rf["steps"]) == n_chunks
    tr = truncate(generator, document)
    assert tr["cost"]["calls"] == 1 and tr["read_fraction"] < 1
    assert tr["cost"]["prompt_tokens"] + 8 <= 80
    assert generator.cost.calls == 0                                # each summary counts on its own
    with pytest.raises(ValueError, match="context budget"):
        map_reduce(generator, document, chunk_tokens=120, overlap_tokens=8)
    assert complete_sentences("One sentence. And a frag") == "One sentence."
    assert complete_sentences("no end at all") == "no end at all"


def test_summary_runs_generates_when_the_cache_does_not_apply():
    from shared.apps.summarize import STRATEGIES, Generator, summary_runs

    tokenizer = FakeTokenizer()
    generator = Generator(FakeModel(tokenizer), tokenizer, context_tokens=80, max_new_tokens=8, system="Be brief.")
    rows = [{"id": "a", "document": " ".join(f"a{i}" for i in range(90))},
            {"id": "b", "document": " ".join(f"b{i}" for i in range(30))}]
    runs = summary_runs(generator, rows, chunk_tokens=40, overlap_tokens=8, model_name="some/model")
    assert set(runs) == set(STRATEGIES) and all(len(results) == 2 for results in runs.values())
    assert [r["n_chunks"] for r in runs["refine"]] == [len(chunk_spans(90, 40, 8)), 1]
