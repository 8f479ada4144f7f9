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
