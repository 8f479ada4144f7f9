"""Named datasets with one schema in both profiles.

    from shared.data import load_dataset
    imdb = load_dataset("imdb")          # DatasetDict: train/test with columns text, label

`tiny` reads files that installable packages ship (or small files under data/), offline;
`full` reads the hub dataset the task names. Provenance and licenses: data/README.md.
Add a dataset with the `@dataset(...)` decorator: a tiny builder, a full builder, same columns.
Datasets are grouped by kind in this package's modules; each module registers its own.
"""
from . import code, dialogue, images, instructions, ner, pretraining, reviews, safety, tasks, topics, videos  # noqa: F401  (each registers its datasets and files)
from .registry import DATASETS, SPLIT_SEED, dataset, describe, load_dataset
from .tasks import STORY_POEM_FORMATS

__all__ = ["DATASETS", "SPLIT_SEED", "STORY_POEM_FORMATS", "dataset", "describe", "load_dataset"]
