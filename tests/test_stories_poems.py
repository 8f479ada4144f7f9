"""The `stories_poems` dataset written for the project: its size, balance, split and content."""
from shared.data import STORY_POEM_FORMATS, load_dataset


def tiny():
    return load_dataset("stories_poems", profile="tiny")


def test_sizes_and_balance():
    data = tiny()
    for split, per_format in (("train", 54), ("test", 10)):
        formats = list(data[split]["format"])
        assert {f: formats.count(f) for f in STORY_POEM_FORMATS} == {"story": per_format, "poem": per_format}


def test_splits_are_disjoint_and_titles_unique():
    data = tiny()
    train, test = set(data["train"]["title"]), set(data["test"]["title"])
    assert len(train) == 108 and len(test) == 20
    assert not train & test


def test_poems_have_lines_and_stories_are_prose():
    for row in tiny()["train"]:
        lines = row["text"].splitlines()
        if row["format"] == "poem":
            assert 4 <= len(lines) <= 12, row["title"]
            assert all(len(line.split()) <= 12 for line in lines), row["title"]
        else:
            assert len(lines) == 1 and len(row["text"].split()) >= 40, row["title"]
