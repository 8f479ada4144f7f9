"""A generated translation task with real structure: dates written out in English -> ISO 8601.

    "the twenty-third of march nineteen ninety-eight"  ->  "1998-03-23"
    "june first , two thousand and five"               ->  "2005-06-01"

To translate, a model must compose numbers from words ("ninety" + "eight" -> 9, 8), look up month
names, and reorder (day-month-year or month-day-year in, year-month-day out); the source length
varies from 4 to 12 tokens. Every date is a real calendar date (1900-2099, leap years included).
`translation_pairs` draws disjoint train and test dates, so the test set measures generalisation
to dates never seen in training. `WordVocab` is the word-level tokenizer the translation notebook
uses on both these pairs and real sentence pairs (Multi30k).
"""
import datetime
import random
from collections import Counter

import regex

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINAL_EXCEPTIONS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
FIRST_DAY, LAST_DAY = datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)


def cardinal(n: int) -> str:
    """1..99 in words: 7 -> 'seven', 42 -> 'forty-two'."""
    if n < 20:
        return ONES[n]
    return TENS[n // 10] + (f"-{ONES[n % 10]}" if n % 10 else "")


def ordinal(n: int) -> str:
    """1..99 as an ordinal: 1 -> 'first', 23 -> 'twenty-third', 30 -> 'thirtieth'."""
    *head, last = cardinal(n).split("-")
    if last in ORDINAL_EXCEPTIONS:
        last = ORDINAL_EXCEPTIONS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return "-".join([*head, last])


def year_words(year: int, rng: random.Random) -> str:
    """A year as people say it: 1905 'nineteen oh five', 1998 'nineteen ninety-eight',
    2005 'two thousand and five', 2012 'twenty twelve' or 'two thousand and twelve'."""
    century, rest = divmod(year, 100)
    if year == 2000:
        return "two thousand"
    if year > 2000 and (rest < 10 or rng.random() < 0.5):
        return f"two thousand {rng.choice(['and ', ''])}{cardinal(rest)}"
    if rest == 0:
        return f"{cardinal(century)} hundred"
    return f"{cardinal(century)} {'oh ' + ONES[rest] if rest < 10 else cardinal(rest)}"


FORMATS = [  # (day, month, year) -> words; day-month-year and month-day-year orders
    lambda d, m, y: f"the {ordinal(d)} of {m} {y}",
    lambda d, m, y: f"{ordinal(d)} of {m} , {y}",
    lambda d, m, y: f"{cardinal(d)} {m} {y}",
    lambda d, m, y: f"{m} {ordinal(d)} , {y}",
    lambda d, m, y: f"{m} the {ordinal(d)} {y}",
]


def date_to_words(date: datetime.date, rng: random.Random, form: int | None = None) -> str:
    """One English wording of `date` (format `form`, or a random one)."""
    form = rng.randrange(len(FORMATS)) if form is None else form
    return FORMATS[form](date.day, MONTHS[date.month - 1], year_words(date.year, rng))


def translation_pairs(n_train: int, n_test: int, seed: int = 0) -> dict[str, list[dict]]:
    """{"train": [...], "test": [...]} of {"source": words, "target": "YYYY-MM-DD"}; no date in both."""
    rng = random.Random(seed)
    span = (LAST_DAY - FIRST_DAY).days + 1
    offsets = rng.sample(range(span), n_train + n_test)              # distinct dates
    dates = [FIRST_DAY + datetime.timedelta(days=o) for o in offsets]
    rows = [{"source": date_to_words(d, rng), "target": d.isoformat()} for d in dates]
    return {"train": rows[:n_train], "test": rows[n_train:]}


# Words are runs of letters; every digit and punctuation mark is its own token, so "1998-03-23"
# is spelled digit by digit and numbers are composed, not memorised.
TOKEN_PATTERN = regex.compile(r"\d|[^\W\d_]+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text.lower())


class WordVocab:
    """Word-level tokenizer: token <-> id, with padding, unknown, begin and end of sequence."""

    SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
    PAD, UNK, BOS, EOS = range(4)

    def __init__(self, texts, min_count: int = 1):
        counts = Counter(token for text in texts for token in tokenize(text))
        words = sorted(w for w, c in counts.items() if c >= min_count)   # sorted: same ids every run
        self.itos = self.SPECIALS + words                                  # id -> token
        self.stoi = {token: i for i, token in enumerate(self.itos)}        # token -> id

    def __len__(self):
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """<bos> tokens <eos>, as ids."""
        return [self.BOS] + [self.stoi.get(t, self.UNK) for t in tokenize(text)] + [self.EOS]

    def decode(self, ids) -> str:
        """Tokens up to the first <eos>, joined by spaces (specials dropped)."""
        tokens = []
        for i in ids:
            if i == self.EOS:
                break
            if i >= len(self.SPECIALS):
                tokens.append(self.itos[i])
        return " ".join(tokens)
