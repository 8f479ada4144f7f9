"""Monitor what a model says before a client sees it.

    output_flags(text, system_prompt=None)   e.g. ["pii:email", "leak:canary"]; [] for a clean reply
    is_harmful_output(text, system_prompt=None)  toxic, PII or a leak (a refusal is logged, not harmful)
    redact(text, flags)                      PII replaced by [EMAIL] / [PHONE] / [CARD]

Flags, by category (the part before ":"):
    toxic              alt-profanity-check's probability (a linear SVM on bag-of-words trained on
                       ~200k labelled comments) >= TOXIC_THRESHOLD, chosen on validation
    pii:email          an e-mail address
    pii:phone          a phone number: 9-15 digits in a phone-like layout (+, brackets, separators)
    pii:card           13-19 digits (spaces/dashes allowed) that pass the Luhn checksum
    leak:canary        a secret-looking token of the system prompt (a code, a key) appears
    leak:system_prompt the reply repeats LEAK_NGRAM consecutive words of the system prompt
    refusal            the model declines ("I'm sorry, but I can't ...")

Module 10, notebook 05 measures each against a baseline on the `output_monitor` labelled set.
"""
import re
from functools import cache

TOXIC_THRESHOLD = 0.3   # the notebook's validation choice (see module10_deployment/05_output_monitoring)
LEAK_NGRAM = 6          # consecutive words shared with the system prompt that count as a leak
CATEGORIES = ("toxic", "pii", "leak", "refusal")

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
PHONE = re.compile(r"(?<![\w-])(\+\d{1,3}[ .-]?)?(\(\d{2,4}\)[ .-]?)?\d{2,5}([ .-]\d{2,5}){1,4}(?![\w-])")
CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
REFUSAL = re.compile(
    r"\b(I('m| am) sorry,? (but )?I (can(no|')t|won't|am unable|'m unable|am not able)|"
    r"I (can(no|')t|won't|will not|am unable to|'m unable to|am not able to|must decline to) "
    r"(help|assist|provide|share|do|comply|fulfil|fulfill|give|write|create|answer|reveal|disclose)|"
    r"as an AI( language model)?,? I (can(no|')t|don't|do not|am not)|"
    r"I('m| am) not (able|allowed|permitted) to (help|share|provide|reveal|do|answer|disclose)|"
    r"(this|that) (request )?(is|goes) against (my|the) (guidelines|policy|policies))", re.IGNORECASE)
SECRET_TOKEN = re.compile(r"\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{6,}\b|"
                          r"\b[A-Z]{2,}(?:[-_][A-Z0-9]{2,})+\b")

# Baselines: what a first version would do.
PROFANITY_KEYWORDS = ["fuck", "shit", "bitch", "idiot", "stupid", "moron", "damn", "bastard", "crap", "hate you"]
BASELINE_REFUSAL = re.compile(r"\bsorry\b", re.IGNORECASE)
BASELINE_NUMBER = re.compile(r"\d[\d ()+.-]{7,}\d")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of card numbers: double every second digit from the right, sum the digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def find_cards(text: str) -> list[str]:
    found = []
    for match in CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found.append(match.group())
    return found


def find_phones(text: str) -> list[str]:
    cards = set(find_cards(text))
    found = []
    for match in PHONE.finditer(text):
        s = match.group()
        digits = re.sub(r"\D", "", s)
        has_layout = s.startswith("+") or "(" in s or len(re.findall(r"[ .-]", s)) >= 2
        if 9 <= len(digits) <= 15 and has_layout and s not in cards and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            found.append(s)
    return found


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def secret_tokens(system_prompt: str) -> list[str]:
    """Tokens of the system prompt that look like secrets: letters and digits mixed (ZEBRA-4417,
    sk-live-9f2c), or upper-case words joined by dashes (BLUE-HORIZON)."""
    return sorted({m.group() for m in SECRET_TOKEN.finditer(system_prompt)})


def leak_flags(text: str, system_prompt: str | None) -> list[str]:
    if not system_prompt:
        return []
    flags = []
    squashed = re.sub(r"[\s\-_.]", "", text).lower()   # "Z E B R A - 4 4 1 7" is still the canary
    if any(re.sub(r"[\s\-_.]", "", t).lower() in squashed for t in secret_tokens(system_prompt)):
        flags.append("leak:canary")
    prompt_words, reply_words = _words(system_prompt), _words(text)
    n = min(LEAK_NGRAM, len(prompt_words))
    grams = {tuple(prompt_words[i:i + n]) for i in range(len(prompt_words) - n + 1)}
    if n and any(tuple(reply_words[i:i + n]) in grams for i in range(len(reply_words) - n + 1)):
        flags.append("leak:system_prompt")
    return flags


@cache
def _profanity():
    from profanity_check import predict_prob

    return predict_prob


def toxicity(texts: list[str]) -> list[float]:
    """alt-profanity-check's probability that each text is offensive (0..1)."""
    return [float(p) for p in _profanity()(list(texts))]


def output_flags(text: str, system_prompt: str | None = None, toxic_threshold: float | None = None) -> list[str]:
    """Every flag that `text` raises (see the module docstring); without `system_prompt` the leak
    checks are skipped and the rest still run."""
    flags = []
    if toxicity([text])[0] >= (TOXIC_THRESHOLD if toxic_threshold is None else toxic_threshold):
        flags.append("toxic")
    if EMAIL.search(text):
        flags.append("pii:email")
    if find_phones(text):
        flags.append("pii:phone")
    if find_cards(text):
        flags.append("pii:card")
    flags += leak_flags(text, system_prompt)
    if REFUSAL.search(text):
        flags.append("refusal")
    return flags


def categories(flags: list[str]) -> set[str]:
    return {f.split(":")[0] for f in flags}


def is_harmful_output(text: str, system_prompt: str | None = None) -> bool:
    """Toxic, PII or a leak: what a server should block or redact (a refusal is only counted)."""
    return bool(categories(output_flags(text, system_prompt)) & {"toxic", "pii", "leak"})


def redact(text: str) -> str:
    """PII replaced by placeholders: cards first (their digits would look like phone numbers)."""
    for card in find_cards(text):
        text = text.replace(card, "[CARD]")
    text = EMAIL.sub("[EMAIL]", text)
    for phone in find_phones(text):
        text = text.replace(phone, "[PHONE]")
    return text


def baseline_flags(text: str, system_prompt: str | None = None) -> set[str]:
    """The categories a naive monitor flags: a profanity word list, '@' or any long digit run,
    the whole system prompt verbatim, the word 'sorry'."""
    lowered, found = text.lower(), set()
    if any(k in lowered for k in PROFANITY_KEYWORDS):
        found.add("toxic")
    if "@" in text or BASELINE_NUMBER.search(text):
        found.add("pii")
    if system_prompt and system_prompt.strip().lower() in lowered:
        found.add("leak")
    if BASELINE_REFUSAL.search(text):
        found.add("refusal")
    return found
