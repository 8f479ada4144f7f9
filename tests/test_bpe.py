"""shared.text.bpe against a worked example, against itself (plain vs fast trainer) and against
Hugging Face `tokenizers` (same merges when training, same ids when encoding)."""
import copy
import functools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

from shared.assets import AssetMissing, require
from shared.data import load_dataset
from shared.text.bpe import (
    GPT2_SPLIT_PATTERN,
    GPT4_SPLIT_PATTERN,
    BPETokenizer,
    UnsupportedTokenizer,
    bytes_to_unicode,
    learn_merges_fast,
    learn_merges_plain,
)

TRAIN_CHARS = 100_000  # Wikipedia characters the tokenizers here are trained on
VOCAB_SIZE = 800
SPECIAL = "<|endoftext|>"
VARIED_TEXTS = [
    "Hello world! It's 2024, isn't it? I'LL say THEY'RE 'quoted' \"double\".",
    "   leading spaces\tand\t\ttabs\n\n\nnewlines   trailing   ",
    "digits 1234567890 3.14159 1,000,000 007 ½ ⅓ ² ٣٤٥",
    "emoji 👋🌍🎉 family 👨‍👩‍👧 flag 🇫🇷 skin 👍🏽",
    "CJK 日本語のテキストです。中文文本，한국어 텍스트",
    "def f(x):\n    return x ** 2  # square\n\tif (a&&b) { c[i] = d->e; }\r\n",
    "accents ÀÉÎÕÜ ñ ß Ω Ж عربي עברית",
    "odd spaces\u00a0nbsp\u3000ideographic\u2028line\u200bzero-width\u000bvt\x00nul",
    f"{SPECIAL}special tokens{SPECIAL}{SPECIAL} <|endoftext| partial",
    "a" * 200 + " " * 40 + "b\n\n\n\n",
    "",
]


@functools.cache
def wiki_text() -> str:
    return "\n\n".join(load_dataset("wikipedia")["train"]["text"])


@functools.cache
def trained(pattern: str = GPT2_SPLIT_PATTERN) -> BPETokenizer:
    tokenizer = BPETokenizer(pattern)
    tokenizer.train(wiki_text()[:TRAIN_CHARS], VOCAB_SIZE)
    return tokenizer


# Hugging Face pre-tokenizers, each with the split patterns our tokenizer must use for it
HF_PRE_TOKENIZERS = {
    "gpt2": (lambda: pre_tokenizers.ByteLevel(add_prefix_space=False), (GPT2_SPLIT_PATTERN,)),
    "gpt4": (lambda: pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4_SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), (GPT4_SPLIT_PATTERN,)),
    "digits": (lambda: pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)]), (r"\p{N}", GPT2_SPLIT_PATTERN)),
}


@functools.cache
def hf_trained(kind: str) -> Tokenizer:
    """A `tokenizers` byte-level BPE (no normalizer) trained on the same text as `trained`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = HF_PRE_TOKENIZERS[kind][0]()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([wiki_text()[:TRAIN_CHARS]], trainer)
    tokenizer.add_special_tokens([SPECIAL])
    return tokenizer


@pytest.fixture(scope="session")
def hf_files(tmp_path_factory) -> dict[str, str]:
    """kind -> path of the `hf_trained(kind)` tokenizer.json."""
    folder = tmp_path_factory.mktemp("hf")
    for kind in HF_PRE_TOKENIZERS:
        hf_trained(kind).save(str(folder / f"{kind}.json"))
    return {kind: str(folder / f"{kind}.json") for kind in HF_PRE_TOKENIZERS}


@pytest.fixture(scope="session")
def ours_gpt2(hf_files) -> BPETokenizer:
    return BPETokenizer.from_tokenizer_json(hf_files["gpt2"])


def merges_as_bytes(merges: list) -> list[tuple[bytes, bytes]]:
    """tokenizer.json merges ("Ġ t" or ["Ġ", "t"]) -> pairs of byte strings."""
    to_byte = {char: b for b, char in bytes_to_unicode().items()}
    pairs = [m.split(" ") if isinstance(m, str) else m for m in merges]
    return [tuple(bytes(to_byte[c] for c in side) for side in pair) for pair in pairs]


# --- the algorithm on a worked example -------------------------------------------------------

def test_textbook_example():
    # Wikipedia's BPE example: aaabdaaabac -> ZabdZabac -> ZYdZYac -> XdXac
    tokenizer = BPETokenizer()
    tokenizer.train("aaabdaaabac", 256 + 3)
    assert tokenizer.merges == {(97, 97): 256, (97, 98): 257, (256, 257): 258}
    assert tokenizer.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tokenizer.vocab[258] == b"aaab"


def test_first_merges_are_the_smaller_vocabulary():
    smaller = BPETokenizer(GPT2_SPLIT_PATTERN)
    smaller.train(wiki_text()[:TRAIN_CHARS], 300)
    assert trained().with_vocab_size(300).merges == smaller.merges


def test_training_stops_when_every_chunk_is_one_token():
    tokenizer = BPETokenizer()
    tokenizer.train("hello hello", 10_000)
    assert [tokenizer.vocab[t] for t in tokenizer.encode("hello hello")] == [b"hello", b" hello"]
    assert tokenizer.vocab_size < 10_000


# --- round trips -----------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.text())
def test_decode_inverts_encode_for_any_text(text):
    assert trained().decode(trained().encode(text)) == text
    assert trained(GPT4_SPLIT_PATTERN).decode(trained(GPT4_SPLIT_PATTERN).encode(text)) == text


def test_save_load_round_trip(tmp_path):
    tokenizer = copy.deepcopy(trained())
    tokenizer.add_special_tokens([SPECIAL])
    tokenizer.save(tmp_path / "tok.json")
    loaded = BPETokenizer.load(tmp_path / "tok.json")
    for text in VARIED_TEXTS:
        assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.vocab == tokenizer.vocab


def test_special_tokens():
    tokenizer = BPETokenizer(GPT2_SPLIT_PATTERN)
    tokenizer.train(wiki_text()[:20_000], 300)
    [eot] = tokenizer.add_special_tokens([SPECIAL])
    assert eot == 300
    ids = tokenizer.encode(f"end{SPECIAL}start")
    assert ids.count(eot) == 1 and tokenizer.decode(ids) == f"end{SPECIAL}start"
    as_text = tokenizer.encode(f"end{SPECIAL}start", allowed_special="none")
    assert eot not in as_text and tokenizer.decode(as_text) == f"end{SPECIAL}start"


# --- the two trainers ------------------------------------------------------------------------

def test_fast_and_plain_trainers_learn_the_same_merges_on_wikipedia():
    fast, plain = BPETokenizer(), BPETokenizer()
    fast.train(wiki_text()[:8_000], 256 + 150)
    plain.train(wiki_text()[:8_000], 256 + 150, fast=False)
    assert fast.merges == plain.merges and len(fast.merges) == 150


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab c", max_size=12), max_size=8))
def test_fast_and_plain_trainers_break_ties_the_same_way(words):
    # a tiny alphabet makes equal counts (ties) and overlapping pairs (aaa) common
    chunks = [word.encode() for word in words]
    counts = {}
    for chunk in chunks:
        counts[chunk] = counts.get(chunk, 0) + 1
    assert learn_merges_fast(counts, 50) == learn_merges_plain(chunks, 50)


@pytest.mark.parametrize("kind", ["gpt2", "gpt4", "digits"])
def test_trainer_learns_the_merges_tokenizers_learns(kind):
    ours = BPETokenizer(HF_PRE_TOKENIZERS[kind][1])
    ours.train(wiki_text()[:TRAIN_CHARS], VOCAB_SIZE)
    theirs = merges_as_bytes(json.loads(hf_trained(kind).to_str())["model"]["merges"])
    assert [(ours.vocab[a], ours.vocab[b]) for a, b in ours.merges] == theirs


# --- encoding: same ids as tokenizers ----------------------------------------------------------

@pytest.mark.parametrize("kind", ["gpt2", "gpt4", "digits"])
def test_encode_matches_tokenizers(kind, hf_files):
    ours = BPETokenizer.from_tokenizer_json(hf_files[kind])
    held_out = wiki_text()[TRAIN_CHARS:TRAIN_CHARS + 50_000]  # text the merges were not learned from
    for text in [*VARIED_TEXTS, held_out]:
        assert ours.encode(text) == hf_trained(kind).encode(text, add_special_tokens=False).ids, text[:80]
        assert ours.decode(ours.encode(text)) == text


# characters where regex engines may disagree: Unicode spaces and separators, apostrophes, digits
TRICKY_CHARS = list(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u2028\u2029\u200b\u202f\u3000\ufeff"
                    "'’sStLlVe1²½٣aZé日👋.-_<|>")


@settings(max_examples=200, deadline=None)
@given(st.text() | st.text(alphabet=TRICKY_CHARS) | st.sampled_from(VARIED_TEXTS))
def test_encode_matches_tokenizers_for_any_text(ours_gpt2, text):
    assert ours_gpt2.encode(text) == hf_trained("gpt2").encode(text, add_special_tokens=False).ids


def smollm2_tokenizer_json():
    try:
        return require("smollm2") / "tokenizer.json"
    except AssetMissing as missing:
        pytest.skip(f"SmolLM2 asset not installed: {missing}")


def test_encode_matches_tokenizers_on_smollm2(tmp_path):
    path = smollm2_tokenizer_json()
    ours, theirs = BPETokenizer.from_tokenizer_json(path), Tokenizer.from_file(str(path))
    chat = "<|im_start|>user\nWhat is 12345 + 678?<|im_end|>\n<|im_start|>assistant\n"
    lacking_bytes = "a\x04b !!\x04!! \x06\x06"  # control characters the SmolLM2 vocab lacks: dropped
    for text in [*VARIED_TEXTS, chat, lacking_bytes, wiki_text()[:30_000]]:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False).ids, text[:80]
    ours.save(tmp_path / "smollm2.json")
    assert BPETokenizer.load(tmp_path / "smollm2.json").encode(chat) == ours.encode(chat)


def test_byte_level_without_regex_is_one_chunk(tmp_path):
    spec = json.loads(hf_trained("gpt2").to_str())
    spec["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    (tmp_path / "no_regex.json").write_text(json.dumps(spec))
    ours, theirs = BPETokenizer.from_tokenizer_json(tmp_path / "no_regex.json"), Tokenizer.from_str(json.dumps(spec))
    assert ours.split_patterns == ()
    for text in VARIED_TEXTS:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False).ids


def test_unsupported_tokenizer_json_is_refused(tmp_path):
    spec = json.loads(hf_trained("gpt2").to_str())
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    (tmp_path / "metaspace.json").write_text(json.dumps(spec))
    with pytest.raises(UnsupportedTokenizer, match="Metaspace"):
        BPETokenizer.from_tokenizer_json(tmp_path / "metaspace.json")
    spec["normalizer"] = {"type": "NFC"}
    (tmp_path / "nfc.json").write_text(json.dumps(spec))
    with pytest.raises(UnsupportedTokenizer, match="normalizer"):
        BPETokenizer.from_tokenizer_json(tmp_path / "nfc.json")


# --- special tokens in the training text -------------------------------------------------------

@functools.cache
def documents_with_markers() -> list[str]:
    """Wikipedia paragraphs: a training text is these joined by SPECIAL, one per document end."""
    return [p for p in wiki_text()[:TRAIN_CHARS].split("\n\n") if p.strip()]


def test_training_never_splits_or_merges_across_special_tokens():
    text = SPECIAL.join(documents_with_markers())
    ours = BPETokenizer(GPT2_SPLIT_PATTERN)
    ours.train(text, VOCAB_SIZE, special_tokens=[SPECIAL])
    # the reference: tokenizers trained on the documents as separate texts, without the markers
    # (its BpeTrainer, given special_tokens, still merges "<|" and "|>" found in the text)
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.train_from_iterator(documents_with_markers(), trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - 1, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    theirs = merges_as_bytes(json.loads(hf.to_str())["model"]["merges"])
    assert [(ours.vocab[a], ours.vocab[b]) for a, b in ours.merges] == theirs
    assert ours.special_tokens == {SPECIAL: VOCAB_SIZE - 1} and ours.vocab_size == VOCAB_SIZE
    assert not any(b"<|" in ours.vocab[t] or b"|>" in ours.vocab[t] for t in ours.merges.values())
    ids = ours.encode(text)
    assert ids.count(VOCAB_SIZE - 1) == text.count(SPECIAL) and ours.decode(ids) == text


def test_without_special_tokens_the_marker_is_learned_as_text():
    text = SPECIAL.join(documents_with_markers())
    plain = BPETokenizer(GPT2_SPLIT_PATTERN)
    plain.train(text, VOCAB_SIZE)
    assert any(plain.vocab[t] in (b"<|", b"|>") for t in plain.merges.values())  # the defect that special_tokens fixes


def test_special_tokens_count_in_the_vocab_size():
    tokenizer = BPETokenizer()
    tokenizer.train("low lower lowest" + SPECIAL + "newer newest", 256 + 5, special_tokens=[SPECIAL, SPECIAL, "<pad>"])
    assert len(tokenizer.merges) == 3 and tokenizer.special_tokens == {SPECIAL: 259, "<pad>": 260}
    with pytest.raises(ValueError, match="special tokens"):
        tokenizer.train("abc", 257, special_tokens=[SPECIAL, "<pad>"])


# --- streaming: encode_iterable ------------------------------------------------------------------

def pieces_of(text: str, cuts: list[int]) -> list[str]:
    """`text` cut at the given positions (any order, any repeats)."""
    bounds = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


STREAM_CHARS = list("ab Zé1 2\n\n\t  '’sll.!<|>") + [SPECIAL, "\r\n", "\n  ", "  \n", "'ll", "12345"]


@pytest.mark.parametrize("kind", ["gpt2", "gpt4", "digits"])
@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.sampled_from(STREAM_CHARS), max_size=60) | st.sampled_from(VARIED_TEXTS).map(lambda t: [t]),
       cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_encode_iterable_equals_encode(hf_files, kind, parts, cuts):
    tokenizer = streaming_tokenizer(hf_files[kind])
    text = "".join(parts)
    pieces = pieces_of(text, cuts)
    assert list(tokenizer.encode_iterable(iter(pieces))) == tokenizer.encode(text)
    assert list(tokenizer.encode_iterable(pieces, allowed_special="none")) == tokenizer.encode(text, allowed_special="none")


@functools.cache
def streaming_tokenizer(path: str) -> BPETokenizer:
    return BPETokenizer.from_tokenizer_json(path)  # with SPECIAL among its special tokens


def test_encode_iterable_on_a_file_equals_encode(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(wiki_text()[:40_000] + SPECIAL + "def f(x):\n    return x\n\n\n", encoding="utf-8")
    tokenizer = copy.deepcopy(trained(GPT4_SPLIT_PATTERN))
    tokenizer.add_special_tokens([SPECIAL])
    with open(path, encoding="utf-8") as lines:
        assert list(tokenizer.encode_iterable(lines)) == tokenizer.encode(path.read_text(encoding="utf-8"))


def test_encode_iterable_memory_does_not_grow_with_the_input():
    import itertools
    import tracemalloc

    lines = [line + "\n" for line in wiki_text()[:20_000].splitlines() if line.strip()]  # paragraphs
    tokenizer = copy.deepcopy(trained())
    tokenizer.encode("".join(lines))  # fill the chunk cache once: both runs below reuse it

    def peak_bytes(n_lines: int) -> tuple[int, int]:
        tracemalloc.start()
        count = sum(1 for _ in tokenizer.encode_iterable(itertools.islice(itertools.cycle(lines), n_lines)))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return count, peak

    few_ids, few_peak = peak_bytes(50)
    many_ids, many_peak = peak_bytes(1_000)
    assert many_ids > 15 * few_ids                    # 20x the text ...
    assert many_peak < 1.5 * few_peak + 50_000        # ... in about the same memory
    assert many_peak < 1_000_000                      # (`encode` of the whole text holds tens of MB)


def test_encode_iterable_needs_pre_splitting():
    with pytest.raises(ValueError, match="one chunk"):
        list(BPETokenizer(()).encode_iterable(["abc"]))
