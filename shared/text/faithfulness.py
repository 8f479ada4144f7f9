"""A faithfulness check for summaries: are the names and numbers of a summary in its source?

A summary that names a person, place or organisation the article never mentions, or a number it
never states, has made something up ("hallucinated" it). ROUGE cannot see this: a made-up name costs
one word. The check (in the spirit of entity-level factual consistency, Nan et al., 2021):

- entities: spaCy's named entities of the summary (people, organisations, places, nationalities,
  events, products, laws, works); one is **supported** when the source contains it, compared
  after lower-casing and dropping a leading "the" and a possessive "'s", or when every word of it
  is a word of the source (so "Koroma" is supported by "Ernest Bai Koroma");
- numbers: every number written in digits ("709", "5.5", "3,000" -> "3000") must appear in the
  source's digits.

    nlp = shared.models.load_spacy()
    check = faithfulness(nlp(source), nlp(summary))
    check["hallucinated"]            # ['Geneva']: entities of the summary absent from the source

It checks names and numbers only: a summary can get every name right and still state a false
relation between them.
"""
import re

ENTITY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "LAW", "WORK_OF_ART")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def normalize(text: str) -> str:
    """Lower case, a leading 'the' and possessive 's dropped, punctuation to spaces, spaces squeezed."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"'s\b", "", text)
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    return re.sub(r"^the ", "", text)


def numbers(text: str) -> set[str]:
    """Numbers written in digits, without thousands separators: '3,000 troops in 2017' -> {'3000', '2017'}."""
    return {match.replace(",", "").rstrip(".") for match in NUMBER.findall(text)}


def entities(doc, labels=ENTITY_LABELS) -> list[str]:
    """The distinct named entities of a spaCy Doc with one of `labels`, in order of appearance."""
    seen = []
    for ent in doc.ents:
        if ent.label_ in labels and normalize(ent.text) and ent.text not in seen:
            seen.append(ent.text)
    return seen


def is_supported(entity: str, source: str) -> bool:
    """Whether `source` (any text) contains `entity`, by the normalised-text rules of the module."""
    name, text = normalize(entity), " " + normalize(source) + " "
    return f" {name} " in text or all(f" {word} " in text for word in name.split())


def faithfulness(source_doc, summary_doc, labels=ENTITY_LABELS) -> dict:
    """Entity and number support of one summary against its source (both spaCy Docs).

    Returns entities (list), hallucinated (the unsupported ones), numbers (set) and
    unsupported_numbers (those not in the source)."""
    found = entities(summary_doc, labels)
    said = numbers(summary_doc.text)
    return {"entities": found,
            "hallucinated": [e for e in found if not is_supported(e, source_doc.text)],
            "numbers": said,
            "unsupported_numbers": sorted(said - numbers(source_doc.text))}


def entity_recall(reference_doc, summary_doc, labels=ENTITY_LABELS) -> float | None:
    """Share of the reference summary's entities that the summary mentions: by name, or through one
    of its own entities whose words are all in the reference entity ("Merkel" for "Angela Merkel").
    None when the reference has no entities."""
    wanted = entities(reference_doc, labels)
    if not wanted:
        return None
    said = entities(summary_doc, labels)
    covered = [is_supported(e, summary_doc.text) or any(is_supported(s, e) for s in said) for e in wanted]
    return sum(covered) / len(wanted)
