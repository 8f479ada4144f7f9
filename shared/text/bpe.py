"""Byte-level BPE in the GPT style, written from scratch.

    from shared.text.bpe import BPETokenizer, GPT2_SPLIT_PATTERN
    tok = BPETokenizer(GPT2_SPLIT_PATTERN)      # default: GPT-4's pattern
    tok.train(text, vocab_size=1024)            # 256 byte tokens + 768 learned merges
    tok.train(text, 1024, special_tokens=["<|endoftext|>"])  # ... 767 merges, never across the marker
    ids = tok.encode("Hello world")             # list[int]
    assert tok.decode(ids) == "Hello world"     # exact for any Unicode text
    ids = tok.encode_iterable(open("big.txt"))  # a lazy stream of ids, line by line, flat memory
    hf = BPETokenizer.from_tokenizer_json("tokenizer.json")   # a Hugging Face byte-level BPE

How it works, in four pieces:
- text -> UTF-8 bytes: every string is a sequence of the 256 byte values, so nothing is unknown;
- pre-splitting: regular expressions cut the text into chunks (words, numbers, punctuation,
  whitespace); merges never cross a chunk edge, so " dog" and "dog." stay separate words;
- training: repeatedly find the most frequent adjacent pair of tokens and merge it into a new
  token. Ties go to the pair that comes first in Hugging Face's vocabulary order (`token_order`),
  so `train` learns exactly the merges that `tokenizers`' BpeTrainer learns on the same chunks.
  `learn_merges_plain` recounts every pair after every merge (clear, slow); `learn_merges_fast`
  counts each distinct chunk once and updates the pair counts only where a merge happened (same
  merges, much faster);
- encoding: apply the learned merges to each chunk, earliest-learned (lowest rank) first.

Special tokens (such as "<|endoftext|>" between documents) are cut out of the text before all of
this: in training they are never split or merged across, in encoding each becomes its own id.
"""
import heapq
import json
from collections import Counter, defaultdict
from pathlib import Path

import regex

# GPT-2's pre-split pattern (also what Hugging Face's ByteLevel pre-tokenizer uses).
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# GPT-4's (tiktoken cl100k_base): case-insensitive contractions, numbers of at most 3 digits,
# newlines kept apart from other whitespace.
GPT4_SPLIT_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}|"""
                      r""" ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""")
FORMAT = "llm-journey-bpe/1"  # the `save` file format
ENCODE_CACHE_SIZE = 100_000   # chunks whose token ids `encode` remembers
SAFE_CUT = regex.compile(r"\n(?=\S)")  # `encode_iterable` cuts the text right after such a newline


class UnsupportedTokenizer(ValueError):
    """A tokenizer.json that this loader cannot reproduce exactly (it says what and why)."""


# --- the two building blocks: count pairs, merge a pair ---------------------------------------

def count_pairs(ids: list[int], counts: dict | None = None) -> dict:
    """Add one to `counts` ((int, int) -> int) for each adjacent pair of `ids`."""
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids` (left to right, no overlaps) by `new_id`."""
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


# --- Hugging Face's byte <-> character table --------------------------------------------------

def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte: printable bytes map to themselves, the others
    (control characters, space, ...) to characters from 256 on. ' ' -> 'Ġ', '\\n' -> 'Ċ'."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable} | {b: chr(256 + n) for n, b in enumerate(others)}
    return dict(sorted(table.items()))  # in byte order: 0, 1, ..., 255


# --- the two trainers: same merges, different speed -------------------------------------------

def token_order(num_merges: int) -> list[int]:
    """token id -> its place when two pairs are equally frequent (the pair whose tokens come first
    wins). It is the order of Hugging Face's vocabulary, so both learn the same merges: the bytes
    sorted by their printable stand-in character (see `bytes_to_unicode`), then merged tokens in
    the order they were learned."""
    stand_in = bytes_to_unicode()  # byte -> printable character
    byte_rank = {b: rank for rank, b in enumerate(sorted(range(256), key=stand_in.get))}
    return [byte_rank[b] for b in range(256)] + list(range(256, 256 + num_merges))


def learn_merges_plain(chunks: list[bytes], num_merges: int) -> dict[tuple[int, int], int]:
    """Learn merges by recounting every pair of the whole text after every merge (for teaching)."""
    ids = [list(chunk) for chunk in chunks]  # list[list[int]]: each chunk as byte values 0..255
    order = token_order(num_merges)  # token id -> rank used to break ties between equal counts
    merges = {}  # (int, int) -> int: pair -> id of the token it became, in the order learned
    for i in range(num_merges):
        counts = {}  # (int, int) -> how often the pair occurs in the whole text right now
        for chunk_ids in ids:
            count_pairs(chunk_ids, counts)  # pairs inside one chunk only: merges never cross chunks
        if not counts:  # every chunk is a single token: nothing left to merge
            break
        pair = max(counts, key=lambda p: (counts[p], -order[p[0]], -order[p[1]]))  # most frequent
        new_id = 256 + i  # ids 0..255 are the bytes; merge i makes token 256 + i
        ids = [merge(chunk_ids, pair, new_id) for chunk_ids in ids]  # rewrite the whole text
        merges[pair] = new_id
    return merges


def learn_merges_fast(chunk_counts: dict[bytes, int], num_merges: int) -> dict[tuple[int, int], int]:
    """The same merges as `learn_merges_plain`, computed incrementally.

    - A chunk that occurs n times is stored once with weight n: text has far fewer distinct
      words than words.
    - After a merge only the words that contain the pair are recounted.
    - A heap finds the most frequent pair. A merge only lowers the counts of the pairs that
      already exist (only pairs with the new token are new), so a heap entry is an upper bound:
      when a popped entry is out of date it goes back with its current count.
    """
    words = [list(chunk) for chunk in chunk_counts]  # list[list[int]]: each distinct chunk's token ids
    freqs = list(chunk_counts.values())  # list[int]: how many times each distinct chunk occurs
    order = token_order(num_merges)  # token id -> rank used to break ties between equal counts
    counts = defaultdict(int)  # (int, int) -> occurrences in the text (sum of freqs of words with it)
    where = defaultdict(set)  # (int, int) -> indices of the words that contain (or once contained) it
    for w, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            counts[pair] += freq
            where[pair].add(w)
    heap = [_heap_entry(pair, n, order) for pair, n in counts.items()]  # smallest entry = best pair
    heapq.heapify(heap)
    merges = {}  # (int, int) -> int: pair -> id of the token it became, in the order learned
    for i in range(num_merges):
        pair = _pop_most_frequent(heap, counts, order)  # (int, int), or None when no pair is left
        if pair is None:
            break
        new_id = 256 + i
        merges[pair] = new_id
        new_pairs = set()  # pairs with the new token: they enter the heap below
        for w in where.pop(pair):  # only these words can change
            word = words[w]
            merged = merge(word, pair, new_id)
            if len(merged) == len(word):  # the pair left this word in an earlier merge
                continue
            freq = freqs[w]
            for old in zip(word, word[1:]):  # take the word's pairs out of the counts ...
                counts[old] -= freq
            for new in zip(merged, merged[1:]):  # ... and put the merged word's pairs back in
                counts[new] += freq
                if new_id in new:  # a pair that did not exist before: index the word under it
                    where[new].add(w)
                    new_pairs.add(new)
            words[w] = merged
        for new in new_pairs:
            heapq.heappush(heap, _heap_entry(new, counts[new], order))
    return merges


def _heap_entry(pair: tuple[int, int], count: int, order: list[int]) -> tuple:
    """(-count, rank of first token, rank of second, pair): the smallest entry is the best pair."""
    return -count, order[pair[0]], order[pair[1]], pair


def _pop_most_frequent(heap: list, counts: dict, order: list[int]) -> tuple[int, int] | None:
    """The pair with the highest current count (ties by `order`), or None when none is left."""
    while heap:
        negative_count, _, _, pair = heapq.heappop(heap)
        count = counts.get(pair, 0)
        if count == -negative_count:  # up to date: no other pair can beat it
            return pair
        if count > 0:  # out of date: its count fell since it was pushed
            heapq.heappush(heap, _heap_entry(pair, count, order))
    return None


# --- pre-splitting ---------------------------------------------------------------------------

def special_token_pattern(names) -> regex.Pattern | None:
    """A regex that matches any of the special tokens `names` (longest first, so "<|a|b|>" wins
    over "<|a|"), in a capturing group so that `split` keeps them; None when there are none."""
    longest_first = sorted(names, key=len, reverse=True)
    return regex.compile("(" + "|".join(map(regex.escape, longest_first)) + ")") if longest_first else None


def split_isolated(pattern: regex.Pattern, text: str) -> list[str]:
    """Cut `text` into the matches of `pattern` and the (non-empty) gaps between them."""
    pieces, end = [], 0
    for match in pattern.finditer(text):
        if match.start() > end:
            pieces.append(text[end:match.start()])
        if match.end() > match.start():
            pieces.append(match.group())
        end = match.end()
    if end < len(text):
        pieces.append(text[end:])
    return pieces


# --- the tokenizer ----------------------------------------------------------------------------

class BPETokenizer:
    """Byte-level BPE: `train`, `encode`, `decode`, special tokens, `save`/`load`, and
    `from_tokenizer_json` for Hugging Face files. Token ids 0..255 are the bytes after `train`."""

    def __init__(self, split_patterns: str | tuple[str, ...] = GPT4_SPLIT_PATTERN):
        """`split_patterns`: one regex, or several applied in turn (each cuts every piece of the
        previous one), or () for no pre-splitting (the whole text is one chunk)."""
        self.split_patterns = (split_patterns,) if isinstance(split_patterns, str) else tuple(split_patterns)
        self.byte_ids = list(range(256))  # byte value -> token id (None: a byte the vocab lacks)
        self.merges = {}  # (int, int) -> int: pair -> merged token id; dict order = merge priority
        self.special_tokens = {}  # str -> int, e.g. "<|endoftext|>" -> 1024
        self._build()

    def _build(self) -> None:
        """Derive the lookup tables from byte_ids, merges and special_tokens."""
        self._compiled = [regex.compile(p) for p in self.split_patterns]
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}  # (int, int) -> priority
        self.vocab = {token: bytes([b]) for b, token in enumerate(self.byte_ids) if token is not None}  # int -> bytes
        self._dropped_bytes = bytes(b for b, token in enumerate(self.byte_ids) if token is None)
        for (a, b), token in self.merges.items():
            self.vocab[token] = self.vocab[a] + self.vocab[b]
        self.vocab.update({token: text.encode("utf-8") for text, token in self.special_tokens.items()})
        self._special_pattern = special_token_pattern(self.special_tokens)
        self._cache = {}  # chunk -> its token ids

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # --- training -------------------------------------------------------------------------

    def train(self, text: str, vocab_size: int, fast: bool = True, special_tokens=()) -> None:
        """Learn merges from `text` until the vocabulary has `vocab_size` tokens: 256 bytes, the
        merges, then `special_tokens` (e.g. ["<|endoftext|>"]), which take the last ids.

        The text is cut at every special token before pre-splitting, so a special token is never
        split into pieces that get merged ("<|", "|>") and no merge crosses one: the documents on
        both sides are trained on as separate texts. Forgets earlier merges and special tokens.
        `fast=False` runs the plain trainer (same merges, slower)."""
        special_tokens = list(dict.fromkeys(special_tokens))  # unique, in order
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"vocab_size must be at least 256 (the byte tokens) + {len(special_tokens)} "
                             f"(the special tokens), got {vocab_size}")
        pattern = special_token_pattern(special_tokens)
        pieces = pattern.split(text)[::2] if pattern else [text]  # the text between special tokens
        chunks = [chunk.encode("utf-8") for piece in pieces for chunk in self.pre_split(piece)]  # list[bytes]
        if fast:
            self.merges = learn_merges_fast(Counter(chunks), num_merges)
        else:
            self.merges = learn_merges_plain(chunks, num_merges)
        self.byte_ids = list(range(256))
        self.special_tokens = {}
        self._build()
        self.add_special_tokens(special_tokens)

    def with_vocab_size(self, vocab_size: int) -> "BPETokenizer":
        """A copy that keeps only the first `vocab_size - 256` merges (and the special tokens).
        Training is greedy, so this is the tokenizer `train` gives with the smaller vocab_size."""
        smaller = BPETokenizer(self.split_patterns)
        smaller.byte_ids = list(self.byte_ids)
        smaller.merges = dict(list(self.merges.items())[:vocab_size - 256])
        smaller.special_tokens = dict(self.special_tokens)
        smaller._build()
        return smaller

    def add_special_tokens(self, names: list[str]) -> list[int]:
        """Give each new special token the next free id; returns their ids."""
        next_id = max(self.vocab) + 1
        for name in names:
            if name not in self.special_tokens:
                self.special_tokens[name] = next_id
                next_id += 1
        self._build()
        return [self.special_tokens[name] for name in names]

    # --- encoding and decoding ------------------------------------------------------------

    def pre_split(self, text: str) -> list[str]:
        """The chunks that BPE works on: each split pattern cuts every piece of the previous one."""
        pieces = [text]
        for pattern in self._compiled:
            pieces = [part for piece in pieces for part in split_isolated(pattern, piece)]
        return pieces

    def encode(self, text: str, allowed_special: str = "all") -> list[int]:
        """Token ids of `text`. Special tokens written in the text become their id
        (`allowed_special="all"`, as Hugging Face does) or are encoded as plain text ("none")."""
        if allowed_special not in ("all", "none"):
            raise ValueError(f"allowed_special must be 'all' or 'none', got {allowed_special!r}")
        if allowed_special == "none" or self._special_pattern is None:
            return self._encode_ordinary(text)
        ids = []
        for i, part in enumerate(self._special_pattern.split(text)):  # odd parts are special tokens
            ids.extend([self.special_tokens[part]] if i % 2 else self._encode_ordinary(part))
        return ids

    def encode_iterable(self, texts, allowed_special: str = "all"):
        """The ids of `"".join(texts)`, yielded lazily, with memory that does not grow with the input:
        `encode_iterable(open(path, encoding="utf-8"))` encodes a file of any size line by line.

        A piece is encoded once the text is cut at a place where no pre-split chunk can cross:
        after a newline followed by a non-space character (GPT-2's and GPT-4's patterns, alone or
        after a digit split, never put those two in one chunk), outside any special token. So the
        ids equal `encode` of the whole text (tests/test_bpe.py), and the text held at any time
        is at most the stretch since the last such place (a few lines of prose or code)."""
        if not self.split_patterns:
            raise ValueError("without pre-splitting the whole text is one chunk: it cannot be encoded in pieces")
        held = ""  # text read but not encoded yet: everything after the last safe cut
        for text in texts:
            searched_from = max(len(held) - 1, 0)  # a newline at the end of `held` may start a cut
            held += text
            cut = self._last_safe_cut(held, searched_from, allowed_special)
            if cut:
                yield from self.encode(held[:cut], allowed_special)
                held = held[cut:]
        if held:
            yield from self.encode(held, allowed_special)

    def _last_safe_cut(self, text: str, start: int, allowed_special: str) -> int:
        """The last position >= start that follows a newline, precedes a non-space character and
        is not inside a special token; 0 if there is none."""
        cuts = [match.end() for match in SAFE_CUT.finditer(text, start)]
        if self._special_pattern is not None and allowed_special == "all":
            inside = {position for match in self._special_pattern.finditer(text)
                      for position in range(match.start() + 1, match.end())}
            cuts = [cut for cut in cuts if cut not in inside]
        return cuts[-1] if cuts else 0

    def _encode_ordinary(self, text: str) -> list[int]:
        ids = []
        for chunk in self.pre_split(text):
            if chunk not in self._cache:
                if len(self._cache) >= ENCODE_CACHE_SIZE:
                    self._cache.clear()
                self._cache[chunk] = self._encode_chunk(chunk.encode("utf-8"))
            ids.extend(self._cache[chunk])
        return ids

    def _encode_chunk(self, chunk: bytes) -> list[int]:
        """Apply merges to one chunk, always the earliest-learned pair present first."""
        ids = [self.byte_ids[b] for b in chunk.translate(None, self._dropped_bytes)]
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:  # no pair in the chunk was ever merged: done
                break
            ids = merge(ids, pair, self.merges[pair])
        return ids

    def decode(self, ids: list[int]) -> str:
        """Text of token ids; byte sequences that are not valid UTF-8 become U+FFFD."""
        return b"".join(self.vocab[token] for token in ids).decode("utf-8", errors="replace")

    # --- save / load ----------------------------------------------------------------------

    def save(self, path) -> None:
        """Write everything `encode` needs to a JSON file."""
        state = {
            "format": FORMAT,
            "split_patterns": list(self.split_patterns),
            "byte_ids": self.byte_ids,
            "merges": [[a, b, token] for (a, b), token in self.merges.items()],  # in priority order
            "special_tokens": self.special_tokens,
        }
        Path(path).write_text(json.dumps(state, ensure_ascii=False))

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        state = json.loads(Path(path).read_text())
        if state.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file (written by BPETokenizer.save)")
        tokenizer = cls(tuple(state["split_patterns"]))
        tokenizer.byte_ids = state["byte_ids"]
        tokenizer.merges = {(a, b): token for a, b, token in state["merges"]}
        tokenizer.special_tokens = state["special_tokens"]
        tokenizer._build()
        return tokenizer

    @classmethod
    def from_tokenizer_json(cls, path) -> "BPETokenizer":
        """Load a Hugging Face byte-level BPE `tokenizer.json` (GPT-2 and SmolLM2 style).

        Supported: model BPE without byte fallback, dropout, ignore_merges or subword affixes; no
        normalizer; pre-tokenizer ByteLevel (add_prefix_space=false), alone or last in a Sequence
        after Digits and Split(Regex or String, behavior Isolated) steps; added tokens without
        lstrip/rstrip/single_word. Anything else raises `UnsupportedTokenizer`. `encode` matches
        `tokenizers`' `encode(text, add_special_tokens=False).ids`: post-processors are not applied.
        Bytes missing from the vocab are dropped, as `tokenizers` does without an unk token (the
        SmolLM2 vocab lacks 6 control characters and the 15 bytes that UTF-8 never uses), so
        `decode(encode(text))` loses them.
        """
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        _check_supported(spec)
        vocab = spec["model"]["vocab"]  # str (bytes written with bytes_to_unicode) -> id
        tokenizer = cls(_split_patterns(spec.get("pre_tokenizer")))
        tokenizer.byte_ids = [vocab.get(char) for char in bytes_to_unicode().values()]  # None: dropped
        for merge_spec in spec["model"]["merges"]:
            left, right = merge_spec.split(" ") if isinstance(merge_spec, str) else merge_spec
            pair = (_vocab_id(vocab, left), _vocab_id(vocab, right))
            tokenizer.merges.setdefault(pair, _vocab_id(vocab, left + right))  # first listed = priority
        tokenizer.special_tokens = {added["content"]: added["id"] for added in spec.get("added_tokens", [])}
        tokenizer._build()
        return tokenizer


def _vocab_id(vocab: dict[str, int], token: str) -> int:
    if token not in vocab:
        raise UnsupportedTokenizer(f"merge result or part {token!r} is missing from the vocab")
    return vocab[token]


def _check_supported(spec: dict) -> None:
    model = spec.get("model", {})
    problems = []
    if model.get("type") != "BPE":
        problems.append(f"model type {model.get('type')!r} (only BPE)")
    for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            problems.append(f"model.{key}={model[key]!r}")
    for key in ("byte_fallback", "ignore_merges"):
        if model.get(key):
            problems.append(f"model.{key}=true")
    if spec.get("normalizer") is not None:
        problems.append(f"normalizer {spec['normalizer'].get('type')!r} (only none)")
    for added in spec.get("added_tokens", []):
        if added.get("lstrip") or added.get("rstrip") or added.get("single_word"):
            problems.append(f"added token {added['content']!r} with lstrip/rstrip/single_word")
    if problems:
        raise UnsupportedTokenizer("unsupported tokenizer.json: " + "; ".join(problems))


SUPPORTED_PRE_TOKENIZERS = ("ByteLevel(add_prefix_space false), alone or as the last step of a Sequence whose "
                            "other steps are Digits and Split(behavior Isolated, invert false)")


def _split_patterns(pre_tokenizer: dict | None) -> tuple[str, ...]:
    """Hugging Face pre-tokenizer -> the regex patterns `pre_split` applies in turn."""
    if pre_tokenizer is None:
        steps = []
    elif pre_tokenizer.get("type") == "Sequence":
        steps = pre_tokenizer["pretokenizers"]
    else:
        steps = [pre_tokenizer]
    if not steps or steps[-1].get("type") != "ByteLevel":
        raise UnsupportedTokenizer(f"pre-tokenizer {pre_tokenizer} is not supported; "
                                   f"supported: {SUPPORTED_PRE_TOKENIZERS}")
    patterns = []
    for step in steps:
        kind = step.get("type")
        if kind == "ByteLevel" and step is steps[-1] and not step.get("add_prefix_space"):
            patterns += [GPT2_SPLIT_PATTERN] if step.get("use_regex", True) else []
        elif kind == "Digits":
            patterns.append(r"\p{N}" if step.get("individual_digits") else r"\p{N}+")
        elif kind == "Split" and step.get("behavior") == "Isolated" and not step.get("invert"):
            pattern = step["pattern"]
            patterns.append(pattern["Regex"] if "Regex" in pattern else regex.escape(pattern["String"]))
        else:
            raise UnsupportedTokenizer(f"pre-tokenizer step {step} is not supported; "
                                       f"supported: {SUPPORTED_PRE_TOKENIZERS}")
    return tuple(patterns)
