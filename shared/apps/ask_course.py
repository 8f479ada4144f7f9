"""Ask the course: retrieval-augmented answers over the course's own notebooks and docs (module 12/03).

    sections = course_sections()                    # Section(source, title, heading, text), in file order
    chunks = chunk_sections(sections, max_words=100)  # sections cut into pieces of at most 100 words
    index = CourseIndex(chunks, embed(chunk_texts))   # MiniLM vectors in a FAISS inner-product index
    hits = index.search(embed(["What does pick() do?"]), k=5)[0]   # [(Chunk, cosine), ...], best first
    prompt = rag_prompt(question, hits[:1])         # "Text: heading: text / Question: ... / Answer:"
    answer, cited, found = parse_reply(reply, hits[:1], question)  # the short answer; the source it is in

What is indexed: README.md, CONTRIBUTING.md, each module's README.md and the markdown cells of every
notebook (code cells are left out). A section is the text under one heading, so a citation names a
file and a heading a reader can find. `ask_course_index` (a derived asset) caches the chunks'
embeddings, keyed by a hash of the indexed text: editing any notebook's prose rebuilds it.
"""
import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..assets import register_derived, require
from ..paths import cache_dir, repo_root
from ..utils import tqdm

SOURCE_GLOBS = ("README.md", "CONTRIBUTING.md", "module*/README.md", "module*/*.ipynb")
NOT_INDEXED = ("module12_advanced/03_capstone.ipynb",)  # the capstone itself: editing it must not stale the index
CHUNK_WORDS = (50, 150)        # the chunk sizes the index is built for (chosen between on validation)
EMBED_MAX_TOKENS = 256         # MiniLM's longest input; longer chunks are truncated when embedded
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MARKUP = [(re.compile(r"<[^>]+>"), " "),                  # HTML tags (the Colab badge)
           (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1")]  # [text](url) -> text, images likewise


@dataclass(frozen=True)
class Section:
    source: str    # path from the repository root, e.g. "module10_deployment/01_local_server.ipynb"
    title: str     # the file's first heading
    heading: str   # the heading the text sits under ("" before the first one)
    text: str      # the markdown under it, up to the next heading, links and HTML reduced to text

    @property
    def cite(self) -> str:
        return f"{self.source} § {self.heading}"


@dataclass(frozen=True)
class Chunk(Section):
    part: int = 0  # which piece of its section (0, 1, ...)

    def embed_text(self) -> str:
        """What the encoder sees: where the text is (title, heading), then the text."""
        return f"{self.title}. {self.heading}. {self.text}"


def markdown_sections(markdown: str) -> list[tuple[str, str]]:
    """(heading, body) for each heading of `markdown`; `#` lines inside code fences are not headings."""
    sections, heading, lines, fenced = [], "", [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            sections.append((heading, "\n".join(lines)))
            heading, lines = match.group(2).strip(), []
        else:
            lines.append(line)
    sections.append((heading, "\n".join(lines)))
    return sections


def _plain(text: str) -> str:
    for pattern, repl in _MARKUP:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


def _markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":  # the notebook's prose: its markdown cells, in order
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def course_sections(root: Path | None = None) -> list[Section]:
    """Every non-empty section of the course's docs and notebooks, files in sorted order."""
    root = Path(root or repo_root() or ".")
    paths = sorted({p for pattern in SOURCE_GLOBS for p in root.glob(pattern)
                    if p.relative_to(root).as_posix() not in NOT_INDEXED})
    if not paths:
        raise FileNotFoundError(f"no README.md or notebooks under {root}: ask the course from a checkout "
                                f"of the repository (git clone it)")
    sections = []
    for path in paths:
        parts = markdown_sections(_markdown_of(path))
        title = next((h for h, _ in parts if h), path.stem)
        for heading, body in parts:
            text = _plain(body)
            if text:
                sections.append(Section(path.relative_to(root).as_posix(), _plain(title), _plain(heading), text))
    return sections


def chunk_sections(sections: list[Section], max_words: int) -> list[Chunk]:
    """Each section cut into ceil(words / max_words) pieces of near-equal length (no piece is a stub)."""
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    chunks = []
    for s in sections:
        words = s.text.split()
        pieces = math.ceil(len(words) / max_words)
        size = math.ceil(len(words) / pieces)
        chunks += [Chunk(s.source, s.title, s.heading, " ".join(words[i * size:(i + 1) * size]), i)
                   for i in range(pieces)]
    return chunks


def text_digest(sections: list[Section]) -> str:
    """SHA-256 of the indexed text (sources, headings and text): the key of the cached embeddings."""
    h = hashlib.sha256()
    for s in sections:
        h.update(json.dumps([s.source, s.title, s.heading, s.text]).encode())
    return h.hexdigest()


class CourseIndex:
    """Chunks and their unit-length embeddings in a FAISS flat inner-product index: exact cosine search."""

    def __init__(self, chunks: list[Chunk], embeddings: np.ndarray):
        import faiss

        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        self.chunks = chunks
        self.index = faiss.IndexFlatIP(embeddings.shape[1])
        self.index.add(np.ascontiguousarray(embeddings, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[Chunk, float]]]:
        """For each query (unit-length rows, (Q, H)), the k best chunks with their cosine, best first."""
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)  # (Q, k) each
        return [[(self.chunks[i], float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]


# --- evaluation: where the gold section ranks, and the usual summaries of those ranks ------------------

def gold_rank(hits: list[tuple[Chunk, float]], source: str, heading: str) -> int | None:
    """1-based rank of the first hit from the gold section (file and heading), None if none is in `hits`."""
    return next((r for r, (c, _) in enumerate(hits, 1) if (c.source, c.heading) == (source, heading)), None)


def retrieval_scores(ranks: list[int | None], ks=(1, 3, 5)) -> dict[str, float]:
    """recall@k (share of questions whose gold section is in the top k) and MRR (mean 1/rank, 0 if absent)."""
    n = len(ranks)
    scores = {f"recall@{k}": sum(r is not None and r <= k for r in ranks) / n for k in ks}
    scores["mrr"] = sum(1 / r for r in ranks if r is not None) / n
    return scores


def chance_recall(n_sections: int, k: int) -> float:
    """recall@k of k sections drawn at random (one gold section among `n_sections`)."""
    return min(k, n_sections) / n_sections


# --- the prompt and the reply ---------------------------------------------------------------------

SYSTEM = "Reply with only the answer: a name, a number or a short phrase copied from the text."
CLOSED_BOOK_SYSTEM = ("You answer questions about a course on large language models. Reply with only the answer: "
                      "a name, a number or a short phrase.")
_CITATION = re.compile(r"\[(\d+)\]")
_NOTEBOOK_PATH = re.compile(r"module\d\d_\w+/[\w.]+")
_EMPHASIS = re.compile(r"\*\*(.+?)(?:\*\*|$)|`([^`]+)`|\"([^\"]+)\"")  # **x**, `x`, "x" (or **x cut off): stressed
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)])(?<! al)\.\s")          # "... 0.75. The rest" -> cut after 0.75 (not "et al.")
_SECTION_NUMBER = re.compile(r"^\d+(\.\d+)*\.?\s+")
_COPULA = (" is ", " are ", " was ", ": ")


def source_text(hits: list[tuple[Chunk, float]]) -> str:
    """The retrieved text as the prompt shows it: each chunk as "heading: text", one per line, the heading
    without its section number ("5. Interpolated Kneser-Ney" -> "Interpolated Kneser-Ney": a small model
    answers "5" to many questions when the number is there)."""
    return "\n".join(f"{_SECTION_NUMBER.sub('', c.heading)}: {c.text}" for c, _ in hits)


def rag_prompt(question: str, hits: list[tuple[Chunk, float]], example: dict | None = None) -> str:
    """The user message: a worked example (its text, question and answer) if given, then the retrieved text,
    the question and "Answer:" for the model to complete. Without `hits` it is the no-retrieval prompt
    (the example without its text, then the question). The file paths stay out: the citation is found
    by matching the answer to the sources (`cite`)."""
    def block(text, q, answer=""):
        return (f"Text: {text}\n" if hits else "") + f"Question: {q}\nAnswer:" + (f" {answer}" if answer else "")
    shot = block(example["text"], example["question"], example["answer"]) + "\n\n" if example else ""
    return shot + block(source_text(hits), question)


def extract_answer(reply: str, question: str) -> str:
    """The short answer in a small chat model's reply: its first line and first sentence, without "The answer
    is:" and [n] markers; a stressed span (**x**, `x`, "x") if there is one; and when the reply restates the
    question ("The hidden width ... is 576"), what follows the restatement."""
    from ..text.qa import normalize_answer, short_answer

    answer = short_answer(_CITATION.sub("", reply)).strip()
    stressed = _EMPHASIS.search(answer)
    if stressed:
        return next(g for g in stressed.groups() if g).strip()
    answer = _SENTENCE_END.split(answer + " ")[0].strip()
    asked = set(normalize_answer(question).split())
    for copula in _COPULA:
        if copula in answer:
            head, tail = answer.rsplit(copula, 1)
            words = normalize_answer(head).split()
            if words and sum(w in asked for w in words) >= len(words) / 2:  # mostly the question's words
                answer = tail
                break
    return answer.strip().strip(".").strip()


def _appears_in(answer: str, text: str) -> bool:
    """Whether `answer` is in `text`: as whole words after SQuAD normalisation ("Luhn checksum"), or, for an
    answer of 4 characters or more, as it is written ("JOURNEY_PROFILE" inside "`JOURNEY_PROFILE=full`")."""
    from ..text.qa import normalize_answer

    words = normalize_answer(answer)
    return bool(words) and (f" {words} " in f" {normalize_answer(text)} "
                            or (len(answer.strip()) >= 4 and answer.strip().lower() in text.lower()))


def cite(answer: str, hits: list[tuple[Chunk, float]]) -> tuple[Chunk | None, bool]:
    """(cited chunk, found): the first source whose heading or text contains the answer (the model copied it
    from there), else the top source; `found` says which."""
    for chunk, _ in hits:
        if _appears_in(answer, f"{chunk.heading}: {chunk.text}"):
            return chunk, True
    return (hits[0][0] if hits else None), False


def parse_reply(reply: str, hits: list[tuple[Chunk, float]], question: str = "") -> tuple[str, Chunk | None, bool]:
    """(answer, cited chunk, whether the answer was found in it): `extract_answer`, then `cite`."""
    answer = extract_answer(reply, question)
    return (answer, *cite(answer, hits))


def closed_book_citation(reply: str) -> str | None:
    """The first course path a reply without sources names (e.g. "module03_.../01_x.ipynb"), if any."""
    match = _NOTEBOOK_PATH.search(reply)
    return match.group(0) if match else None


# --- the cached index: chunk texts and embeddings for every size in CHUNK_WORDS -----------------------

def embed_texts(texts: list[str], encoder=None) -> np.ndarray:
    """(N, 384) unit-length MiniLM embeddings (`shared.infer.embed`); loads the encoder unless given one."""
    from ..infer.embed import sentence_embeddings
    from ..models import load_encoder

    model, tokenizer = encoder or load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths per batch: little padding
    vectors = sentence_embeddings(model.eval(), tokenizer, [texts[i] for i in order], max_length=EMBED_MAX_TOKENS)
    out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)  # (N, 384), back in the input order
    out[order] = vectors.cpu().numpy()
    return out


def embed_each(texts: list[str], encoder, known: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 384) like `embed_texts`, but each text embedded on its own (no padding, so its vector does not
    depend on the other texts; as fast as batches on one CPU thread), and a text in `known` not at all."""
    vectors = [known.get(text) for text in texts]
    for i in tqdm([i for i, v in enumerate(vectors) if v is None], desc="embedding chunks", leave=False):
        vectors[i] = embed_texts([texts[i]], encoder)[0]
        known[texts[i]] = vectors[i]
    return np.stack(vectors) if vectors else np.zeros((0, 384), dtype=np.float32)


def _previous_embeddings() -> dict[str, np.ndarray]:
    """text -> vector from the index in the cache, if one was built with the same encoder settings (only the
    course's text changed since): a typo fixed in one notebook then re-embeds a few chunks, not thousands."""
    folder = cache_dir() / "ask_course_index"
    done = folder / "DONE"
    if not done.exists() or done.read_text().split(" text ")[0] != _index_recipe().split(" text ")[0]:
        return {}
    known = {}
    for words in CHUNK_WORDS:
        chunks = json.loads((folder / f"chunks_{words}.json").read_text())
        vectors = np.load(folder / f"embeddings_{words}.npy")
        known.update((Chunk(**c).embed_text(), v) for c, v in zip(chunks, vectors))
    return known


def _build_index(out: Path) -> None:
    import torch

    from ..models import load_encoder

    torch.set_num_threads(1)
    sections = course_sections()
    encoder = load_encoder("sentence-transformers/all-MiniLM-L6-v2")  # loaded once for both chunk sizes
    known = _previous_embeddings()
    reused = len(known)
    for words in CHUNK_WORDS:
        chunks = chunk_sections(sections, words)
        np.save(out / f"embeddings_{words}.npy", embed_each([c.embed_text() for c in chunks], encoder, known))
        (out / f"chunks_{words}.json").write_text(json.dumps([asdict(c) for c in chunks]))
    (out / "build.json").write_text(json.dumps({"texts_embedded": len(known) - reused, "texts_known": reused}))


def _index_recipe() -> str:
    return f"ask_course_index v2 {CHUNK_WORDS} {EMBED_MAX_TOKENS} text {text_digest(course_sections())[:16]}"


register_derived("ask_course_index", "all-MiniLM-L6-v2 embeddings of the course's docs and notebook prose, "
                 f"chunked at {CHUNK_WORDS} words (module 12/03), keyed by the text's hash", _build_index, _index_recipe)


def load_index(max_words: int, encoder=None) -> CourseIndex:
    """The index at one chunk size: cached for the tiny profile's sizes, else embedded now with `encoder`."""
    if max_words in CHUNK_WORDS and encoder is None:
        folder = require("ask_course_index")
        chunks = [Chunk(**c) for c in json.loads((folder / f"chunks_{max_words}.json").read_text())]
        return CourseIndex(chunks, np.load(folder / f"embeddings_{max_words}.npy"))
    chunks = chunk_sections(course_sections(), max_words)
    return CourseIndex(chunks, embed_texts([c.embed_text() for c in chunks], encoder))


# --- the evaluation's answers: generated once per recipe, cached (a derived asset) ---------------------

ANSWER_RECIPE = {
    "retrieve_k": 10,       # hits kept per question: recall@k for k <= 10, MRR@10
    "n_sources": (1, 2),    # chunks in the prompt, chosen on validation by answer F1
    "examples": (0, 1),     # worked examples in the prompt (0 or 1, from validation), chosen likewise
    "max_new_tokens": 24,   # room for a restated question, then the answer; generation stops at the line end
}
STOP = ["\n"]              # one line: the answer


def retrieve(index: CourseIndex, questions: list[str], k: int, encoder=None) -> list[list[tuple[Chunk, float]]]:
    """The top-k chunks of each question (questions embedded with the same MiniLM as the chunks)."""
    return index.search(embed_texts(questions, encoder), k)


def gold_ranks(hits: list[list[tuple[Chunk, float]]], rows) -> list[int | None]:
    return [gold_rank(h, r["source"], r["section"]) for h, r in zip(hits, rows)]


def choose_chunk_words(indexes: dict[int, CourseIndex], rows, encoder=None) -> tuple[int, dict[int, dict]]:
    """The chunk size with the best MRR on `rows` (the validation questions), and every size's scores."""
    scores = {w: retrieval_scores(gold_ranks(retrieve(ix, [r["question"] for r in rows], ANSWER_RECIPE["retrieve_k"],
                                                      encoder), rows)) for w, ix in indexes.items()}
    return max(scores, key=lambda w: (scores[w]["mrr"], -w)), scores


def worked_example(row: dict, index: CourseIndex) -> dict:
    """A validation question as a worked example for the prompt: the chunk of its gold section that holds its
    first gold answer ("heading: text"), the question, and that answer."""
    answer = row["answers"][0]
    chunk = next((c for c in index.chunks if (c.source, c.heading) == (row["source"], row["section"])
                  and _appears_in(answer, c.text)), None)
    if chunk is None:
        raise ValueError(f"{row['id']}: its answer {answer!r} is in no chunk of its gold section; pick another example")
    return {"id": row["id"], "text": source_text([(chunk, 1.0)]), "question": row["question"], "answer": answer}


def rag_replies(model, tokenizer, rows, hits, n_sources: int, example: dict | None = None) -> list[str]:
    """SmolLM2's greedy one-line replies with the top `n_sources` chunks of each question in the prompt."""
    from ..infer.llm import chat_batch

    prompts = [rag_prompt(r["question"], h[:n_sources], example) for r, h in zip(rows, hits)]
    return chat_batch(model, tokenizer, prompts, max_new_tokens=ANSWER_RECIPE["max_new_tokens"], system=SYSTEM,
                      stop_strings=STOP)


def closed_book_replies(model, tokenizer, rows, example: dict | None = None) -> list[str]:
    """The no-retrieval baseline: the same model, decoding and worked example (without its text), the question alone."""
    from ..infer.llm import chat_batch

    return chat_batch(model, tokenizer, [rag_prompt(r["question"], [], example) for r in rows],
                      max_new_tokens=ANSWER_RECIPE["max_new_tokens"], system=CLOSED_BOOK_SYSTEM, stop_strings=STOP)


def score_replies(replies: list[str], rows, hits=None, n_sources: int = 0) -> tuple[dict[str, float], list[dict]]:
    """Answer EM/F1 (SQuAD, percent) of the extracted answers, the share of answers that contain a gold answer
    (a verbose but right reply scores low F1), and citation correctness (share of answers citing the gold file,
    and the gold file and section); `answer_in_source` is the share of answers found in the source they cite.
    Without `hits` (no retrieval) a citation is a course path the reply names."""
    from ..text.qa import exact_match, normalize_answer, token_f1

    def contains(answer, golds):  # a gold answer's tokens appear, in order and contiguous, in the answer
        tokens = normalize_answer(answer).split()
        return any(g and any(tokens[i:i + len(g)] == g for i in range(len(tokens) - len(g) + 1))
                   for g in (normalize_answer(a).split() for a in golds))

    per_question = []
    for i, (reply, r) in enumerate(zip(replies, rows)):
        if hits is None:
            answer, found = extract_answer(reply, r["question"]), False
            cited_source, cited_section = closed_book_citation(reply), None
        else:
            answer, chunk, found = parse_reply(reply, hits[i][:n_sources], r["question"])
            cited_source, cited_section = (chunk.source, chunk.heading) if chunk else (None, None)
        per_question.append({"id": r["id"], "answer": answer, "em": exact_match(answer, r["answers"]),
                             "f1": token_f1(answer, r["answers"]), "contains": contains(answer, r["answers"]),
                             "found": found, "cited": cited_source, "cited_file": cited_source == r["source"],
                             "cited_section": (cited_source, cited_section) == (r["source"], r["section"])})

    def mean(key):
        return sum(p[key] for p in per_question) / len(per_question)
    return {"exact_match": 100 * mean("em"), "f1": 100 * mean("f1"), "contains_answer": 100 * mean("contains"),
            "citation_file": mean("cited_file"), "citation_section": mean("cited_section"),
            "answer_in_source": mean("found")}, per_question


def shuffled_index(index: CourseIndex) -> CourseIndex:
    """A bug to gate: the chunks re-sorted (by heading) after they were embedded, so rows and vectors no
    longer match. Nothing crashes; retrieval quietly returns the wrong sources."""
    vectors = np.stack([index.index.reconstruct(i) for i in range(index.index.ntotal)])
    return CourseIndex(sorted(index.chunks, key=lambda c: (c.heading, c.source, c.part)), vectors)


def prompt_settings() -> list[tuple[int, int]]:
    """The (sources, worked examples) pairs tried on validation, in the order ties are broken."""
    return [(n, e) for e in ANSWER_RECIPE["examples"] for n in ANSWER_RECIPE["n_sources"]]


def answer_inputs(encoder=None) -> dict:
    """Everything the evaluation's answers read from the index, without a language model: the chunk size (by
    validation MRR), the worked example (the first validation question), the validation questions it is
    scored on, the test questions, and the top `retrieve_k` hits of each (the test's also from the
    shuffled-index bug)."""
    from ..data import load_dataset
    from ..models import load_encoder

    data = load_dataset("course_qa")
    val, test = list(data["validation"]), list(data["test"])
    encoder = encoder or load_encoder("sentence-transformers/all-MiniLM-L6-v2")  # loaded once, not per call
    indexes = {w: load_index(w) for w in CHUNK_WORDS}
    words, _ = choose_chunk_words(indexes, val, encoder)
    k = ANSWER_RECIPE["retrieve_k"]
    tune, questions = val[1:], [r["question"] for r in test]              # the example is not scored
    return {"chunk_words": words, "example": worked_example(val[0], indexes[words]), "tune": tune, "test": test,
            "val_hits": retrieve(indexes[words], [r["question"] for r in tune], k, encoder),
            "test_hits": retrieve(indexes[words], questions, k, encoder),
            "bug_hits": retrieve(shuffled_index(indexes[words]), questions, k, encoder)}


def generate_answers(encoder=None, llm=None) -> dict:
    """Everything the evaluation generates: validation replies for each (sources, worked examples) setting,
    scored on the validation questions other than the example; the setting with the best validation F1; and
    test replies of the chosen setting, of the no-retrieval baseline (same prompt without text) and of the
    shuffled-index bug. The inputs (chunk size, example, hits) are `answer_inputs()`."""
    import torch

    from ..models import load_causal_lm

    inputs = answer_inputs(encoder)
    example, tune, test = inputs["example"], inputs["tune"], inputs["test"]
    model, tokenizer = llm or load_causal_lm(dtype=torch.float32)
    model.eval()
    val_replies = {f"{n},{e}": rag_replies(model, tokenizer, tune, inputs["val_hits"], n, example if e else None)
                   for n, e in prompt_settings()}
    f1 = {key: score_replies(replies, tune, inputs["val_hits"], int(key.split(",")[0]))[0]["f1"]
          for key, replies in val_replies.items()}
    n_best, e_best = max(prompt_settings(), key=lambda s: (f1[f"{s[0]},{s[1]}"], -s[0], -s[1]))
    shot = example if e_best else None
    return {"chunk_words": inputs["chunk_words"], "n_sources": n_best, "examples": e_best, "example": example,
            "validation": val_replies,
            "test": {"rag": rag_replies(model, tokenizer, test, inputs["test_hits"], n_best, shot),
                     "closed_book": closed_book_replies(model, tokenizer, test, shot),
                     "shuffled_index": rag_replies(model, tokenizer, test, inputs["bug_hits"], n_best, shot)}}


def _build_answers(out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    (out / "answers.json").write_text(json.dumps(generate_answers(), indent=1))


def _answers_recipe() -> str:
    """Every prompt `generate_answers` may send (each validation setting; the test's RAG, bug and no-retrieval
    prompts under each setting), the generation settings, and the source of the code that generates and
    scores the replies (a changed scorer can choose another setting). Keyed by the prompts, not by the whole
    index: editing prose that no question retrieves leaves the answers as they are."""
    import inspect

    from ..infer.llm import reply_batch

    inputs = answer_inputs()
    prompts = [[rag_prompt(r["question"], h[:n], inputs["example"] if e else None) for r, h in zip(rows, hits)]
               for n, e in prompt_settings()
               for rows, hits in ((inputs["tune"], inputs["val_hits"]), (inputs["test"], inputs["test_hits"]),
                                  (inputs["test"], inputs["bug_hits"]))]
    prompts += [[rag_prompt(r["question"], [], inputs["example"] if e else None) for r in inputs["test"]]
                for e in ANSWER_RECIPE["examples"]]
    code = [inspect.getsource(f) for f in (rag_replies, closed_book_replies, prompt_settings, generate_answers,
                                           score_replies, extract_answer, cite, _appears_in, reply_batch)]
    digest = hashlib.sha256(json.dumps([SYSTEM, CLOSED_BOOK_SYSTEM, STOP, prompts, code]).encode()).hexdigest()
    return f"ask_course_answers v3 {json.dumps(ANSWER_RECIPE)} chunk words {inputs['chunk_words']} prompts {digest[:16]}"


register_derived("ask_course_answers", "SmolLM2-135M-Instruct's answers to the course questions with and without "
                 "retrieval (module 12/03), keyed by every prompt they answer", _build_answers,
                 _answers_recipe, requires=("ask_course_index",))


def cached_answers() -> dict:
    """What `generate_answers()` returns, for the tiny profile's models (the derived asset)."""
    return json.loads((require("ask_course_answers") / "answers.json").read_text())


# --- the served app: retrieval here, generation by the module 10 server, a Gradio page in front -------

class Assistant:
    """Ask the course through a running `shared.serve` server (its OpenAI API, its guards and metrics):
    retrieve here, send the prompt there (with the evaluation's prompt settings: `n_sources` chunks and the
    worked `example`, if any), cite the source the answer was found in (else the top one)."""

    def __init__(self, index: CourseIndex, url: str, model: str, n_sources: int, encoder=None,
                 example: dict | None = None, max_tokens: int = ANSWER_RECIPE["max_new_tokens"],
                 timeout_s: float = 120):
        self.index, self.url, self.model, self.n_sources, self.encoder = index, url, model, n_sources, encoder
        self.example, self.max_tokens, self.timeout_s = example, max_tokens, timeout_s

    def ask(self, question: str) -> dict:
        """{"answer", "source", "section", "found", "reply", "error"}; a refused or failed request fills "error"."""
        import httpx

        question = (question or "").strip()
        if not question:
            return {"error": "type a question about the course first"}
        hits = retrieve(self.index, [question], self.n_sources, self.encoder)[0]
        body = {"model": self.model, "temperature": 0, "max_tokens": self.max_tokens, "stop": STOP,
                "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": rag_prompt(question, hits, self.example)}]}
        response = httpx.post(self.url + "/v1/chat/completions", json=body, timeout=self.timeout_s)
        if response.status_code != 200:
            return {"error": f"the server answered {response.status_code}: "
                             f"{response.json().get('error', {}).get('message', response.text)}"}
        reply = response.json()["choices"][0]["message"]["content"]
        answer, chunk, found = parse_reply(reply, hits, question)
        return {"answer": answer, "source": chunk.source, "section": chunk.heading, "found": found,
                "reply": reply, "error": None}

    def markdown(self, question: str) -> str:
        """The answer as the page shows it: the answer, then its citation (file and section)."""
        result = self.ask(question)
        if result["error"]:
            return f"**Sorry:** {result['error']}"
        how = "the answer is in this source" if result["found"] else "the top retrieved source"
        return f"**Answer:** {result['answer']}\n\n**Source:** `{result['source']}` § {result['section']} ({how})"


def build_ui(assistant: Assistant):
    """A Gradio page: a question box, an Ask button, the answer with its citation."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no usage reporting
    import gradio as gr

    with gr.Blocks(title="Ask the course") as page:
        gr.Markdown("# Ask the course\nQuestions about the llm-journey notebooks, answered from their text.")
        question = gr.Textbox(label="Question", elem_id="question", placeholder="What does run.expect check?")
        ask = gr.Button("Ask", elem_id="ask", variant="primary")
        answer = gr.Markdown(elem_id="answer")
        ask.click(assistant.markdown, inputs=question, outputs=answer)
        question.submit(assistant.markdown, inputs=question, outputs=answer)
    return page


def answers_for(llm_name: str | None, encoder=None) -> dict:
    """The evaluation's answers: the cached asset for the tiny model (None), else generated now by `llm_name`."""
    if llm_name is None:
        return cached_answers()
    import torch

    from ..models import load_causal_lm
    from ..utils import get_device

    device = get_device()
    model, tokenizer = load_causal_lm(llm_name, dtype=torch.float16 if device == "cuda" else torch.float32)
    return generate_answers(encoder, (model.to(device), tokenizer))
