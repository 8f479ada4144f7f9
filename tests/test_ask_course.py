"""Ask the course (module 12/03): chunking, the FAISS index against NumPy, the metrics, the reply parser,
the question set against the corpus, and the served app in a real browser (module 10 server + Gradio)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from shared.apps import ask_course as ac


def test_markdown_sections_split_on_headings_but_not_inside_code_fences():
    text = "intro\n# Title\nsome text\n```bash\n# a comment, not a heading\n```\n## Part 2 ##\nmore"
    assert ac.markdown_sections(text) == [("", "intro"), ("Title", "some text\n```bash\n# a comment, not a heading\n```"),
                                          ("Part 2", "more")]


def test_chunks_are_near_equal_pieces_that_keep_their_source_and_heading():
    section = ac.Section("m/x.ipynb", "T", "H", " ".join(f"w{i}" for i in range(250)))
    chunks = ac.chunk_sections([section], 100)
    assert [len(c.text.split()) for c in chunks] == [84, 84, 82]           # not 100, 100, 50
    assert " ".join(c.text for c in chunks) == section.text
    assert {(c.source, c.heading) for c in chunks} == {("m/x.ipynb", "H")} and [c.part for c in chunks] == [0, 1, 2]
    assert chunks[0].embed_text().startswith("T. H. w0")
    with pytest.raises(ValueError, match="max_words"):
        ac.chunk_sections([section], 0)


def test_the_corpus_holds_the_docs_and_the_notebook_prose(tmp_path):
    sections = ac.course_sections()
    sources = {s.source for s in sections}
    assert {"README.md", "CONTRIBUTING.md", "module10_deployment/README.md"} <= sources
    assert any(s.startswith("module10_deployment/01_local_server") for s in sources)
    assert all(s.text for s in sections)
    assert len(ac.text_digest(sections)) == 64
    with pytest.raises(FileNotFoundError, match="git clone"):
        ac.course_sections(tmp_path)


def test_every_question_has_its_gold_section_in_the_corpus():
    """A renamed heading breaks the question set silently; this says which question to fix."""
    rows = [json.loads(line) for line in (Path(__file__).parents[1] / "data/course_qa.jsonl").read_text().splitlines()]
    known = {(s.source, s.heading) for s in ac.course_sections()}
    missing = [(r["id"], r["source"], r["section"]) for r in rows if (r["source"], r["section"]) not in known]
    assert not missing, f"gold sections not in the course any more (update data/course_qa.jsonl): {missing}"
    assert len({r["id"] for r in rows}) == len(rows) and {r["split"] for r in rows} == {"validation", "test"}


def test_every_first_gold_answer_is_stated_in_its_gold_section():
    """The answers are copied from the section: its first answer must be in the section's heading or text
    (as `cite` matches it), else the question asks about a fact the gold section does not state."""
    rows = [json.loads(line) for line in (Path(__file__).parents[1] / "data/course_qa.jsonl").read_text().splitlines()]
    sections = {(s.source, s.heading): s for s in ac.course_sections()}
    absent = [(r["id"], r["answers"][0]) for r in rows if (r["source"], r["section"]) in sections
              and not ac._appears_in(r["answers"][0], f"{r['section']}: {sections[(r['source'], r['section'])].text}")]
    assert not absent, f"first gold answers not in their gold section (fix data/course_qa.jsonl): {absent}"


def test_the_faiss_index_finds_what_a_matrix_product_finds():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [ac.Chunk("f.md", "T", f"h{i}", "x") for i in range(200)]
    index = ac.CourseIndex(chunks, vectors)
    queries = vectors[:5] + 0.1 * rng.normal(size=(5, 16)).astype(np.float32)
    hits = index.search(queries, 7)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :7]
    assert [[int(c.heading[1:]) for c, _ in row] for row in hits] == expected.tolist()
    np.testing.assert_allclose([s for s in (score for _, score in hits[0])], np.sort(queries[0] @ vectors.T)[::-1][:7],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="chunks but"):
        ac.CourseIndex(chunks[:3], vectors)
    shuffled = ac.shuffled_index(index)
    assert shuffled.index.ntotal == 200 and [c.heading for c in shuffled.chunks] != [c.heading for c in chunks]


def test_recall_at_k_and_mrr():
    scores = ac.retrieval_scores([1, 3, None, 6], ks=(1, 5))
    assert scores == {"recall@1": 0.25, "recall@5": 0.5, "mrr": pytest.approx((1 + 1 / 3 + 1 / 6) / 4)}
    c = [ac.Chunk("a.md", "T", h, "x") for h in ("x", "gold", "gold")]
    assert ac.gold_rank([(c[0], 0.9), (c[1], 0.8), (c[2], 0.7)], "a.md", "gold") == 2
    assert ac.gold_rank([(c[0], 0.9)], "a.md", "gold") is None
    assert ac.chance_recall(100, 5) == 0.05


def test_the_answer_is_cut_out_of_a_small_models_reply():
    assert ac.extract_answer("The answer is: Luhn. [2]", "?") == "Luhn"
    assert ac.extract_answer("The checksum must pass the **Luhn checksum**.\nMore", "?") == "Luhn checksum"
    q = "What is the hidden width d that a Houlsby adapter squeezes in the PEFT comparison?"
    assert ac.extract_answer("The hidden width d that a Houlsby adapter squeezes is 576. It is small.", q) == "576"
    assert ac.extract_answer("A discount of 0.75. Then more.", "?") == "A discount of 0.75"
    assert ac.extract_answer("Paris is a city", "Which word?") == "Paris is a city"   # not a restatement: kept


def test_the_citation_is_the_source_the_answer_was_found_in_else_the_top_one():
    hits = [(ac.Chunk("a.md", "T", "one", "x"), 0.9), (ac.Chunk("b.md", "T", "two", "the `JOURNEY_PROFILE=full` Luhn"), 0.8)]
    assert ac.parse_reply("The answer is: Luhn. [1]", hits, "?") == ("Luhn", hits[1][0], True)
    assert ac.parse_reply("JOURNEY_PROFILE", hits, "?") == ("JOURNEY_PROFILE", hits[1][0], True)   # inside code
    assert ac.parse_reply("spaCy", hits, "?") == ("spaCy", hits[0][0], False)
    assert ac.cite("Luhn", [])[0] is None
    assert ac.closed_book_citation("See module10_deployment/05_output_monitoring.ipynb.") == \
        "module10_deployment/05_output_monitoring.ipynb."


def test_the_prompt_holds_the_example_the_text_and_the_question():
    hits = [(ac.Chunk("a.md", "T", "Head", "some text"), 0.9)]
    example = {"text": "E: t", "question": "Eq?", "answer": "Ea"}
    assert ac.rag_prompt("Q?", hits) == "Text: Head: some text\nQuestion: Q?\nAnswer:"
    assert ac.rag_prompt("Q?", hits, example) == "Text: E: t\nQuestion: Eq?\nAnswer: Ea\n\nText: Head: some text\nQuestion: Q?\nAnswer:"
    assert ac.rag_prompt("Q?", [], example) == "Question: Eq?\nAnswer: Ea\n\nQuestion: Q?\nAnswer:"   # no retrieval
    row = {"id": "q", "answers": ["JOURNEY_PROFILE"], "source": "a.md", "section": "Head", "question": "Which?"}
    index = ac.CourseIndex([ac.Chunk("a.md", "T", "Head", "set `JOURNEY_PROFILE=full`")], np.eye(1, 4, dtype=np.float32))
    assert ac.worked_example(row, index)["text"] == "Head: set `JOURNEY_PROFILE=full`"
    with pytest.raises(ValueError, match="pick another example"):
        ac.worked_example({**row, "answers": ["Luhn"]}, index)


def test_scores_count_answers_and_citations():
    rows = [{"id": "q1", "question": "Which checksum?", "answers": ["Luhn"], "source": "b.md", "section": "two"},
            {"id": "q2", "question": "Which library?", "answers": ["seqeval"], "source": "a.md", "section": "one"}]
    hits = [[(ac.Chunk("a.md", "T", "one", "x"), 0.9), (ac.Chunk("b.md", "T", "two", "the Luhn checksum"), 0.8)]] * 2
    scores, _ = ac.score_replies(["Luhn", "spaCy"], rows, hits, 2)
    assert scores == {"exact_match": 50.0, "f1": 50.0, "contains_answer": 50.0, "citation_file": 1.0,
                      "citation_section": 1.0, "answer_in_source": 0.5}
    verbose, _ = ac.score_replies(["It was the Luhn checksum", "spaCy"], rows, hits, 2)
    assert verbose["exact_match"] == 0 and verbose["contains_answer"] == 50.0
    closed, _ = ac.score_replies(["Luhn", "I do not know"], rows)
    assert closed["citation_file"] == 0 and closed["exact_match"] == 50.0


def test_an_empty_question_gets_a_clear_message():
    assistant = ac.Assistant(index=None, url="http://127.0.0.1:9", model="m", n_sources=1)
    assert "type a question" in assistant.markdown("  ")


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium (apt-get install chromium)")
def test_the_gradio_page_answers_with_a_citation_in_a_real_browser():
    """The whole app: a guarded `journey serve` process, retrieval over the course's top-level docs (a
    small index, embedded here), the Gradio page in headless Chromium."""
    import httpx
    from playwright.sync_api import sync_playwright

    from shared.models import load_encoder
    from shared.serve import free_port
    from shared.serve.server import TINY_MODEL_NAME, start_server

    encoder = load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    chunks = ac.chunk_sections([s for s in ac.course_sections() if "/" not in s.source], 150)  # README, CONTRIBUTING
    index = ac.CourseIndex(chunks, ac.embed_texts([c.embed_text() for c in chunks], encoder))
    server = start_server(guard=True, max_tokens_limit=32)
    page = None
    try:
        page = ac.build_ui(ac.Assistant(index, server.url, TINY_MODEL_NAME, 3, encoder))
        port = free_port()
        page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            try:
                tab = browser.new_page()
                tab.goto(f"http://127.0.0.1:{port}/")
                tab.fill("#question textarea", "Which environment variable chooses between the tiny and the full profile?")
                tab.click("#ask")
                tab.wait_for_function("document.querySelector('#answer').innerText.includes('Source:')", timeout=120_000)
                shown = tab.inner_text("#answer")
            finally:
                browser.close()
        assert "Answer:" in shown and "§" in shown
        assert "README.md" in shown or "CONTRIBUTING.md" in shown
        tokens = re.search(r"^llm_completion_tokens_total (\S+)$", httpx.get(server.url + "/metrics").text, re.MULTILINE)
        assert tokens and float(tokens.group(1)) > 0  # the answer was generated by the server, and counted
    finally:
        if page is not None:
            page.close()
        server.stop()


def test_an_index_rebuild_embeds_only_the_changed_chunks(monkeypatch, tmp_path):
    """The index is rebuilt whenever any prose of the course changes; the vectors of unchanged chunks come
    from the previous index, and equal what a build from nothing gives."""
    from shared.models import load_encoder

    encoder = load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    texts = ["Attention weighs values by query-key similarity.", "BPE merges the most frequent pair.",
             "LoRA adds a low-rank update to a frozen weight."]
    cold = ac.embed_each(texts, encoder, known={})
    assert np.allclose(cold, ac.embed_texts(texts, encoder), atol=1e-5)  # alone or in a batch: the same vectors
    calls = []
    monkeypatch.setattr(ac, "embed_texts", lambda t, e: (calls.append(t), cold[texts.index(t[0])][None])[1])
    known = {texts[0]: cold[0], texts[2]: cold[2]}                   # the middle chunk was edited
    warm = ac.embed_each(texts, encoder, known)
    assert calls == [[texts[1]]]                                     # only the changed text is embedded
    assert np.array_equal(warm, cold)
