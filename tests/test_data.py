"""Every registered dataset: its schema and seeded splits in the tiny profile; the foundation
datasets' sizes, which notebooks rely on."""
import pytest

from shared import data

ALL = sorted(data.DATASETS)
SIZES = {  # split sizes of the tiny profile
    "prompt_injection": {"train": 800, "validation": 400, "test": 401},
    "output_monitor": {"validation": 48, "test": 48},
    "wikipedia": {"train": 106},
    "wikitext": {"train": 95, "validation": 5, "test": 6},  # articles
    "news": {"train": 300, "test": 50},
    "imdb": {"train": 20_000, "test": 5_000},
    "rotten_tomatoes": {"train": 6_824, "test": 1_706},
    "instructions": {"train": 849, "validation": 50, "test": 100},
    "preferences": {"train": 240, "validation": 30, "test": 30},
    "20newsgroups": {"train": 11_293, "test": 7_528},
    "reuters_r8": {"train": 5_485, "test": 2_189},
    "news_articles": {"train": 3_729},
    "humaneval": {"test": 164},
    "conll2003": {"train": 800, "validation": 200, "test": 48},  # spaCy-labelled news; the gold set
}


MAY_BE_EMPTY = {("instructions", "input"),  # most instructions come without an input
                ("output_monitor", "system_prompt"),  # some replies were given without one
                ("code_tasks", "header")}  # the project's easy tasks need no imports: an empty header


@pytest.mark.parametrize("name", ALL)
def test_tiny_schema(name):
    dataset = data.load_dataset(name, profile="tiny")
    for split, ds in dataset.items():
        assert len(ds) > 0, split
        for column in data.DATASETS[name].columns:
            feature = ds.features[column]
            dtype = getattr(feature, "dtype", None) or f"list<{feature.feature.dtype}>"  # List(Value) has no dtype
            assert dtype in ("string", "int64", "int32", "list<string>"), (split, column, dtype)
            if dtype == "string" and (name, column) not in MAY_BE_EMPTY:
                assert all(value.strip() for value in ds[column][:50]), (split, column)  # none empty


@pytest.mark.parametrize("name", sorted(SIZES))
def test_tiny_sizes(name):
    dataset = data.load_dataset(name, profile="tiny")
    assert {split: len(ds) for split, ds in dataset.items()} == SIZES[name]


@pytest.mark.parametrize("name", ["imdb", "rotten_tomatoes"])
def test_labels_are_binary_and_both_present(name):
    for ds in data.load_dataset(name, profile="tiny").values():
        labels = list(ds["label"])
        assert set(labels) == {0, 1}
        assert 0.3 < sum(labels) / len(labels) < 0.7


@pytest.mark.parametrize("name", ALL)
def test_splits_are_seeded(name):
    """Building the dataset again (bypassing the cache) gives the same rows in the same order."""
    cached = data.load_dataset(name, profile="tiny")
    rebuilt = data.DATASETS[name].tiny()
    assert list(rebuilt) == list(cached)
    for split, ds in cached.items():
        assert len(rebuilt[split]) == len(ds)
        for column in data.DATASETS[name].columns:
            assert rebuilt[split][column][:20] == ds[column][:20], (split, column)


def test_unknown_dataset_lists_the_known_names():
    with pytest.raises(KeyError) as error:
        data.load_dataset("nope")
    for name in ALL:
        assert name in str(error.value)


def test_full_profile_fails_fast_without_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="JOURNEY_PROFILE=tiny"):
        data.load_dataset("news", profile="full")
