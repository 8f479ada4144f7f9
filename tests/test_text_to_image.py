"""shared.train.text_to_image: the metrics against scipy / hand computation, the image scaling, and a
tiny UNet sampled with guidance (no cached run needed)."""
from dataclasses import replace

import numpy as np
import scipy.linalg
import torch

from shared.nn.ddpm import DDPM
from shared.train import text_to_image as t2i


def test_frechet_distance_matches_the_scipy_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 5))
    b = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5)) + 1.0
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    assert abs(t2i.frechet_distance(a, b) - expected) < 1e-8
    assert abs(t2i.frechet_distance(a, a)) < 1e-8


def test_mean_pairwise_distance_by_hand():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])   # distances 5, 4, 3
    assert abs(t2i.mean_pairwise_distance(points) - 4.0) < 1e-12


def test_images_are_scaled_to_minus_one_one_and_pooled():
    images = np.zeros((2, 28, 28), np.uint8)
    images[1] = 255
    x = t2i.to_model_images(images, 16)
    assert x.shape == (2, 1, 16, 16)
    assert x[0].eq(-1).all()                            # background stays background
    assert x[1, 0, 8, 8] == 1 and x[1, 0, 0, 0] == -1   # padding is background


def test_prompts_cover_every_class_and_held_out_phrasings_are_new():
    train = {text for phrasings in t2i.PROMPTS["train"] for text in phrasings}
    assert len(t2i.PROMPTS["train"]) == len(t2i.PROMPTS["validation"]) == len(t2i.PROMPTS["test"]) == len(t2i.CLASSES)
    assert not train & set(t2i.PROMPTS["validation"]) and not train & set(t2i.PROMPTS["test"])
    texts, labels = t2i.training_prompts()
    assert texts[-1] == t2i.NULL_PROMPT and labels[-1] == -1


def test_generate_with_a_tiny_random_unet():
    torch.manual_seed(0)
    recipe = replace(t2i.TextToImageRecipe(), channels=(8, 16), heads=1)
    unet = t2i.make_unet(recipe, text_dim=12).eval()
    bank = t2i.PromptBank(["a", "b"], torch.randn(2, 3, 12), torch.ones(2, 3, dtype=torch.long), [0, 1])
    null = t2i.PromptBank([""], torch.randn(1, 3, 12), torch.tensor([[1, 1, 0]]), [-1])
    index = torch.tensor([0, 1, 1])
    for scale in (0, 1, 3):
        images = t2i.generate(unet, DDPM(), bank, index, null, scale, num_steps=2,
                              generator=torch.Generator().manual_seed(0))
        assert images.shape == (3, 1, 16, 16) and images.abs().max() <= 1.0 + 1e-6
    again = t2i.generate(unet, DDPM(), bank, index, null, 3, num_steps=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(images, again)                   # seeded: the same images


def test_the_recipe_names_its_cache():
    default = t2i.TextToImageRecipe()
    assert default.cache_name() == "text_to_image_fmnist"
    other = replace(default, steps=10)
    assert other.cache_name() != default.cache_name() and t2i.recipe_string(other) != t2i.recipe_string(default)
