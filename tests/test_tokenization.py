"""shared.text.tokenization on hand-built tokenizers whose every number can be worked out by hand, and
against `tokenizers` itself (the word split must be its Whitespace pre-tokenizer)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from shared.text.tokenization import (
    count_words,
    decode_ids,
    encode_ids,
    roundtrip_rate,
    side_by_side,
    take_up_to,
    token_stats,
    tokens_of,
    train_with_prefix,
    unknown_id,
    vocab_overlap,
)

# WordPiece with 7 entries: "the unbelievable, xyz" -> the | un ##believ ##able | , | [UNK]
WORDPIECE_VOCAB = {"[UNK]": 0, "[CLS]": 1, "the": 2, "un": 3, "##believ": 4, "##able": 5, ",": 6}
TEXT = "the unbelievable, xyz"  # 4 words (the, unbelievable, ",", xyz) -> 6 tokens, 1 unknown
VARIED_TEXTS = [
    "Hello world! It's 2024, isn't it?",
    "   leading spaces\tand\t\ttabs\n\nnewlines   ",
    "def f(x):\n    return x ** 2  # square\n",
    "accents ÀÉÎÕÜ ñ ß Ω Ж, km² ½ 日本語 emoji 👋🌍",
    "",
]


def wordpiece(with_cls: bool = False) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(WORDPIECE_VOCAB, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece()
    if with_cls:  # a special token added to every encoding, which must never be counted
        tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A", special_tokens=[("[CLS]", 1)])
    return tokenizer


def as_transformers(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]")


def byte_level_bpe() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(["the cat sat on the mat"] * 20, trainer)
    return tokenizer


def test_words_are_what_the_whitespace_pre_tokenizer_splits():
    splitter = pre_tokenizers.Whitespace()
    for text in VARIED_TEXTS:
        assert count_words([text]) == len(splitter.pre_tokenize_str(text)), text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(max_codepoint=0x04FF, exclude_categories=["Cs"]),
                                  st.sampled_from("—…€½²¹日本語한국👋🇫\u00a0\u200b\u2028")), max_size=60))
def test_word_count_matches_the_pre_tokenizer_on_any_text(text):
    # Latin, Greek and Cyrillic plus a sample of other scripts: characters assigned long ago. A
    # character assigned by a recent Unicode version can be in Rust's tables and not yet in
    # `regex`'s (or the reverse), and the two would then disagree on it.
    assert count_words([text]) == len(pre_tokenizers.Whitespace().pre_tokenize_str(text))


def test_stats_worked_by_hand():
    stats = token_stats(wordpiece(), [TEXT, "the"])
    assert (stats.documents, stats.words, stats.tokens, stats.unknown) == (2, 5, 7, 1)
    assert stats.characters == len(TEXT) + 3
    assert stats.fertility == pytest.approx(7 / 5)
    assert stats.unknown_rate == pytest.approx(1 / 7)
    assert stats.tokens_per_document == pytest.approx(3.5)
    assert tokens_of(wordpiece(), TEXT) == ["the", "un", "##believ", "##able", ",", "[UNK]"]


@pytest.mark.parametrize("make", [lambda: wordpiece(with_cls=True), lambda: as_transformers(wordpiece(True))],
                         ids=["tokenizers", "transformers"])
def test_both_tokenizer_kinds_agree_and_skip_special_tokens(make):
    tokenizer = make()
    assert encode_ids(tokenizer, [TEXT]) == [[2, 3, 4, 5, 6, 0]]
    assert tokens_of(tokenizer, TEXT) == ["the", "un", "##believ", "##able", ",", "[UNK]"]
    assert token_stats(tokenizer, [TEXT]).unknown == 1


def test_unknown_id_of_each_model_kind():
    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0)], unk_id=0))
    assert unknown_id(unigram) == 0
    assert encode_ids(unigram, ["ab c"]) == [[1, 2, 0]]  # Unigram fuses a run of unknowns into one
    assert token_stats(unigram, ["ab c"]).unknown == 1
    assert unknown_id(wordpiece()) == 0
    assert unknown_id(Tokenizer(models.BPE())) is None
    assert token_stats(byte_level_bpe(), ["zzz"]).unknown == 0


def test_byte_level_round_trips_anything_and_a_lowercasing_tokenizer_does_not():
    assert roundtrip_rate(byte_level_bpe(), VARIED_TEXTS) == 1.0  # unseen characters, emoji included
    lowercasing = wordpiece()
    lowercasing.normalizer = normalizers.Lowercase()
    assert roundtrip_rate(lowercasing, ["The", "the", "THE", "the"]) == 0.5


def test_decoding_skips_transformers_space_clean_up():
    backend = wordpiece()
    backend.decoder = decoders.WordPiece(cleanup=False)  # the decoder itself keeps "the ,"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", clean_up_tokenization_spaces=True)
    ids = encode_ids(tokenizer, ["the ,"])[0]
    assert tokenizer.decode(ids) == "the,"  # transformers' cosmetic clean-up
    assert decode_ids(tokenizer, ids) == decode_ids(backend, ids) == "the ,"


def test_take_up_to_stops_once_the_budget_is_reached():
    texts = iter(["aaaa", "bbb", "cc", "d"])
    assert take_up_to(texts, 7) == ["aaaa", "bbb"]
    assert next(texts) == "cc"  # read lazily: nothing past the budget was consumed
    assert take_up_to(["aaaa", "bbb"], 5) == ["aaaa", "bbb"]
    assert take_up_to(["x"], 0) == []


def test_vocab_overlap():
    overlap = vocab_overlap({"a": 0, "b": 1, "c": 2}, ["b", "c", "d", "e"])
    assert (overlap.shared, overlap.only_first, overlap.only_second) == (2, 1, 2)
    assert overlap.jaccard == pytest.approx(2 / 5)


def test_side_by_side_shows_each_tokenizer_on_its_own_line():
    shown = side_by_side({"WordPiece": wordpiece(), "bytes": byte_level_bpe()}, TEXT)
    lines = shown.splitlines()
    assert lines[0] == f"text: {TEXT!r}"
    assert lines[1].split() == ["WordPiece", "6", "tokens", "the|un|##believ|##able|,|[UNK]"]
    assert lines[2].strip().startswith("bytes")


# --- reproducible WordPiece training ------------------------------------------------------------

def pipeline(model) -> Tokenizer:
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer


WORDPIECE_SCRIPT = """
import json, sys
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from shared.data import load_dataset
from shared.text.tokenization import take_up_to, train_with_prefix
texts = take_up_to(load_dataset("wikipedia")["train"]["text"], 300_000)
tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
tokenizer.normalizer, tokenizer.pre_tokenizer = normalizers.NFKC(), pre_tokenizers.Whitespace()
if sys.argv[1] == "fixed":
    tokenizer = train_with_prefix(tokenizer, texts, trainers.WordPieceTrainer, vocab_size=3_000)
else:
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=3_000, special_tokens=["[UNK]"], show_progress=False))
print(json.dumps(sorted(tokenizer.get_vocab().items())))
"""


def wordpiece_vocab_in_a_new_process(mode: str) -> list:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", WORDPIECE_SCRIPT, mode], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_train_with_prefix_learns_the_same_wordpiece_vocabulary_in_every_process():
    first, second = wordpiece_vocab_in_a_new_process("fixed"), wordpiece_vocab_in_a_new_process("fixed")
    assert first == second and len(first) == 3_000  # same tokens with the same ids (plain training differs by run)


def test_wordpiece_trainer_is_bpe_with_a_continuation_prefix():
    texts = ["the unbelievable believers believe", "unable, unstable; tables and labels"] * 20
    wordpiece = train_with_prefix(pipeline(models.WordPiece(unk_token="[UNK]")), texts, trainers.WordPieceTrainer, 60)
    bpe = train_with_prefix(pipeline(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##")), texts,
                            trainers.BpeTrainer, 60)
    assert wordpiece.get_vocab() == bpe.get_vocab()              # the same merges, the same ids
    assert [t.content for t in wordpiece.get_added_tokens_decoder().values()] == ["[UNK]"]  # ## pieces are ordinary
    wordpiece.decoder = decoders.WordPiece()
    assert wordpiece.decode(wordpiece.encode("unbelievable tables").ids) == "unbelievable tables"
