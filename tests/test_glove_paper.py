import json

import numpy as np

from shared.train import glove_paper


def test_load_round_trip(tmp_path):
    vocab = ["the", "of", "war"]
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "history.json").write_text(json.dumps({"losses": {"0": [0.3, 0.1]}, "cpu_seconds": {"0": 1.0}}))
    np.save(tmp_path / "vectors_seed0.npy", np.ones((3, 4), dtype=np.float32))
    words, vectors, history = glove_paper.load(tmp_path)
    assert words == vocab and list(vectors) == [0] and vectors[0].shape == (3, 4)
    assert history["losses"]["0"] == [0.3, 0.1]


def test_recipe_is_the_papers():
    recipe = glove_paper.GloVePaperRecipe()
    assert (recipe.window, recipe.x_max, recipe.alpha) == (10, 100.0, 0.75)  # Pennington et al. (2014)
    assert glove_paper.recipe_string() == glove_paper.recipe_string()  # stable: the cache key
