"""Measure tokenizers and show them side by side (module 1, notebooks 03-05).

Every function takes either kind of tokenizer the course meets:
- a `tokenizers.Tokenizer` (the Rust library itself; what notebook 05 trains), or
- a transformers tokenizer (`AutoTokenizer.from_pretrained(...)`; notebooks 03 and 04).

Special tokens ([CLS], <|im_start|>, ...) are never added or counted: the numbers describe how the
text itself is cut.

    stats = token_stats(tokenizer, texts)
    stats.fertility, stats.unknown_rate, stats.tokens_per_document
    print(side_by_side({"BPE": bpe, "WordPiece": wordpiece}, "Tokenizers split words."))
    wordpiece = train_with_prefix(pipeline, texts, trainers.WordPieceTrainer, vocab_size=8_000)  # reproducible
"""
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import regex
from tokenizers import Tokenizer

# A word is a run of letters, digits and underscores, or a run of punctuation. With `regex`'s
# Unicode classes this is exactly the split of the `tokenizers` Whitespace pre-tokenizer, so
# fertility = tokens per pre-tokenized word.
WORD_PATTERN = regex.compile(r"\w+|[^\w\s]+")


def take_up_to(texts: Iterable[str], budget: int) -> list[str]:
    """The first texts of an iterable (read lazily), until `budget` characters are reached: a
    corpus of a fixed size in characters, whatever the lengths of its documents."""
    texts, taken, total = iter(texts), [], 0
    while total < budget and (text := next(texts, None)) is not None:
        taken.append(text)
        total += len(text)
    return taken


def count_words(texts: Iterable[str]) -> int:
    return sum(len(WORD_PATTERN.findall(text)) for text in texts)


def train_with_prefix(tokenizer: Tokenizer, texts: list[str], trainer_class, vocab_size: int,
                      unk_token: str = "[UNK]", prefix: str = "##") -> Tokenizer:
    """`tokenizer` (a WordPiece model, or a BPE model built with `continuing_subword_prefix=prefix`)
    trained on `texts` with `trainer_class` (`trainers.WordPieceTrainer` or `trainers.BpeTrainer`),
    the same way on every run.

    Both trainers are BPE that writes `prefix` before every piece that continues a word. They give
    those pieces ids in the order they meet them in a hash map, an order that changes from process
    to process, and break ties between equally frequent pairs by id: the same code learns slightly
    different vocabularies on different runs. Here every continuation piece the texts can produce
    is first named as a special token, in sorted order, which fixes its id; the trained tokenizer
    then gets them back as ordinary vocabulary entries. Returns a new `Tokenizer`."""
    def words(text):
        normalized = tokenizer.normalizer.normalize_str(text) if tokenizer.normalizer else text
        if tokenizer.pre_tokenizer is None:
            return [normalized]
        return [word for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]

    continuations = sorted({prefix + char for text in texts for word in words(text) for char in word[1:]})
    trainer = trainer_class(vocab_size=vocab_size, special_tokens=[unk_token, *continuations],
                            continuing_subword_prefix=prefix, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    spec = json.loads(tokenizer.to_str())
    named = set(continuations)
    spec["added_tokens"] = [token for token in spec["added_tokens"] if token["content"] not in named]
    return Tokenizer.from_str(json.dumps(spec))


def encode_ids(tokenizer, texts: Iterable[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens."""
    texts = list(texts)
    if isinstance(tokenizer, Tokenizer):
        return [encoding.ids for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def tokens_of(tokenizer, text: str) -> list[str]:
    """The token strings `text` is cut into, without special tokens."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer.encode(text, add_special_tokens=False).tokens
    return tokenizer.convert_ids_to_tokens(encode_ids(tokenizer, [text])[0])


def unknown_id(tokenizer) -> int | None:
    """Id of the unknown token, or None when the tokenizer has none."""
    if not isinstance(tokenizer, Tokenizer):
        return tokenizer.unk_token_id
    model = json.loads(tokenizer.to_str())["model"]
    if model.get("unk_id") is not None:       # Unigram stores the id
        return model["unk_id"]
    if model.get("unk_token"):                # BPE and WordPiece store the string
        return tokenizer.token_to_id(model["unk_token"])
    return None


@dataclass(frozen=True)
class TokenStats:
    documents: int
    characters: int
    words: int     # see WORD_PATTERN
    tokens: int    # special tokens excluded
    unknown: int   # tokens that are the unknown token: text the tokenizer could not represent

    @property
    def fertility(self) -> float:
        """Tokens per word: 1.0 means every word is a single token."""
        return self.tokens / self.words

    @property
    def unknown_rate(self) -> float:
        return self.unknown / self.tokens

    @property
    def tokens_per_document(self) -> float:
        return self.tokens / self.documents

    @property
    def characters_per_token(self) -> float:
        return self.characters / self.tokens


def token_stats(tokenizer, texts: Iterable[str]) -> TokenStats:
    texts = list(texts)
    ids = encode_ids(tokenizer, texts)
    unk = unknown_id(tokenizer)
    return TokenStats(
        documents=len(texts),
        characters=sum(map(len, texts)),
        words=count_words(texts),
        tokens=sum(map(len, ids)),
        unknown=0 if unk is None else sum(row.count(unk) for row in ids),
    )


def decode_ids(tokenizer, ids: list[int]) -> str:
    """Text of `ids` without special tokens. For a transformers tokenizer, without its optional
    clean-up of spaces before punctuation: what comes back is what the tokenizer itself kept."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer.decode(ids, skip_special_tokens=True)
    return tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def roundtrip_rate(tokenizer, texts: Iterable[str]) -> float:
    """Fraction of texts that come back character for character from decode(encode(text))."""
    texts = list(texts)
    decoded = [decode_ids(tokenizer, ids) for ids in encode_ids(tokenizer, texts)]
    return sum(d == t for d, t in zip(decoded, texts)) / len(texts)


@dataclass(frozen=True)
class VocabOverlap:
    shared: int
    only_first: int
    only_second: int

    @property
    def jaccard(self) -> float:
        """Shared tokens / tokens in either vocabulary."""
        return self.shared / (self.shared + self.only_first + self.only_second)


def vocab_overlap(first: Iterable[str], second: Iterable[str]) -> VocabOverlap:
    """Compare two vocabularies (e.g. `tokenizer.get_vocab()`) as sets of token strings."""
    first, second = set(first), set(second)
    return VocabOverlap(len(first & second), len(first - second), len(second - first))


def side_by_side(tokenizers: Mapping[str, object], text: str) -> str:
    """One line per tokenizer: its name, how many tokens, and the tokens separated by '|'."""
    width = max(map(len, tokenizers))
    lines = [f"text: {text!r}"]
    for name, tokenizer in tokenizers.items():
        tokens = tokens_of(tokenizer, text)
        lines.append(f"  {name:<{width}} {len(tokens):>3} tokens  " + "|".join(tokens))
    return "\n".join(lines)
