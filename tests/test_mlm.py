"""shared.nn.mlm: BERT's 15% / 80-10-10 masking, measured against transformers'
DataCollatorForLanguageModeling on many tokens; special tokens are never selected."""
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast

from shared.nn.mlm import IGNORE_INDEX, mask_tokens, masking_statistics

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(200)]


@pytest.fixture(scope="module")
def tokenizer():
    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def padded_batch(n_rows=2000, max_len=64, seed=0):
    """(ids, special mask): rows [CLS] w ... w [SEP] [PAD] ... of random lengths."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(n_rows, max_len, dtype=torch.long)  # 0 = [PAD]
    for row, length in enumerate(torch.randint(5, max_len - 1, (n_rows,), generator=g).tolist()):
        words = torch.randint(len(SPECIALS), len(SPECIALS) + len(WORDS), (length,), generator=g)
        ids[row, :length + 2] = torch.cat([torch.tensor([2]), words, torch.tensor([3])])
    return ids, ids < len(SPECIALS)  # every special token id is below 5


def ours(ids, special, seed=0):
    g = torch.Generator().manual_seed(seed)
    return mask_tokens(ids, special, mask_id=4, random_ids=torch.arange(len(SPECIALS), len(SPECIALS) + len(WORDS)),
                       generator=g)


def theirs(tokenizer, ids, special, seed=0):
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=seed)
    batch = collator([{"input_ids": row, "special_tokens_mask": mask.long()} for row, mask in zip(ids, special)])
    return batch["input_ids"], batch["labels"]


def test_rates_match_bert_and_the_transformers_collator(tokenizer):
    ids, special = padded_batch()  # ~70,000 maskable tokens, ~10,000 selected
    mine = masking_statistics(ids, *ours(ids, special), special, mask_id=4)
    reference = masking_statistics(ids, *theirs(tokenizer, ids, special, seed=1), special, mask_id=4)  # independent draws
    expected = {"selected": 0.15, "masked": 0.8, "random": 0.1, "unchanged": 0.1}
    for name, rate in expected.items():
        # binomial standard errors here are below 0.004; 0.015 is several of them
        assert mine[name] == pytest.approx(rate, abs=0.015), name
        assert mine[name] == pytest.approx(reference[name], abs=0.02), name
    assert mine["special_selected"] == reference["special_selected"] == 0


def test_special_tokens_are_never_touched():
    ids, special = padded_batch(n_rows=500)
    for seed in range(5):
        inputs, labels = ours(ids, special, seed)
        assert torch.equal(inputs[special], ids[special])
        assert (labels[special] == IGNORE_INDEX).all()


def test_labels_keep_the_original_tokens_and_inputs_are_not_modified():
    ids, special = padded_batch(n_rows=200)
    before = ids.clone()
    inputs, labels = ours(ids, special)
    selected = labels != IGNORE_INDEX
    assert torch.equal(ids, before)
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(inputs[~selected], ids[~selected])  # unselected positions are never changed


def test_random_replacements_come_from_the_given_ids():
    ids, special = padded_batch(n_rows=300)
    g = torch.Generator().manual_seed(0)
    inputs, labels = mask_tokens(ids, special, mask_id=4, random_ids=torch.tensor([7]), mask_fraction=0.0,
                                 random_fraction=1.0, generator=g)
    selected = labels != IGNORE_INDEX
    assert (inputs[selected] == 7).all()


def test_same_seed_same_masks():
    ids, special = padded_batch(n_rows=50)
    first, second = ours(ids, special, seed=3), ours(ids, special, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_masked_lm_scores_only_the_asked_positions():
    from shared.nn.mlm import MaskedLM

    torch.manual_seed(0)
    model = MaskedLM(vocab_size=30, dim=16, heads=2, layers=1, ff=32, max_len=8)
    ids = torch.randint(5, 30, (2, 8))
    at = torch.zeros(2, 8, dtype=torch.bool)
    at[0, 3] = at[1, 5] = True
    assert model(ids, at).shape == (2, 30)
    full = model(ids, torch.ones_like(at))                      # (16, V): every position
    assert torch.allclose(model(ids, at), full[[3, 8 + 5]], atol=1e-5)


def test_evaluate_scores_the_hidden_positions_apart_from_the_visible_ones():
    """A model that copies its input is right at every unchanged position and never at [MASK]:
    top-1 over all selected positions rewards copying, top-1 at [MASK] does not."""
    from shared.train.tiny_mlm import EvalSet, evaluate

    class Copy(torch.nn.Module):
        def forward(self, ids, at):
            return torch.nn.functional.one_hot(ids[at], 205).float() * 10

    ids, special = padded_batch(n_rows=400, max_len=32, seed=3)
    inputs, labels = ours(ids, special, seed=4)
    held = EvalSet(inputs, labels, mask_id=4)
    scores = evaluate(Copy(), held)
    unchanged = ((labels != IGNORE_INDEX) & (inputs == ids)).sum() / (labels != IGNORE_INDEX).sum()
    assert scores["masked_top1"] == 0.0
    assert abs(scores["selected_top1"] - unchanged.item()) < 1e-6
    assert 0.07 < scores["selected_top1"] < 0.13


def test_cached_recipes_are_named_by_their_settings():
    from dataclasses import replace

    from shared.train.tiny_mlm import MLMRecipe, recipe_string

    assert MLMRecipe().cache_name() == "mlm_tiny"
    other = replace(MLMRecipe(), steps=10)
    assert other.cache_name() != "mlm_tiny" and recipe_string(other) != recipe_string(MLMRecipe())
