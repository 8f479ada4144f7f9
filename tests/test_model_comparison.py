"""shared.train.model_comparison: the decoder features against `LlamaForSequenceClassification`'s
own pooling (a tiny random Llama with SmolLM2's tokenizer), the small-MLM chunks and classifier,
and the statistics against scipy / a hand computation."""
import numpy as np
import pytest
import torch
from scipy.stats import binomtest
from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

from shared.assets import require
from shared.nn.mlm import MaskedLM
from shared.train.model_comparison import (
    ComparisonConfig,
    _cache_name,
    _mlm_classifier_class,
    bootstrap_accuracy,
    decoder_features,
    mcnemar_p,
    mlm_chunks,
    positive_probability,
    recipe,
)

TEXTS = ["A wonderful film, I loved every minute.", "Dull.", "The plot made no sense at all and the acting was wooden."]


def test_last_token_features_are_what_the_sequence_classification_head_reads():
    tokenizer = AutoTokenizer.from_pretrained(require("smollm2"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, num_labels=2,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlamaForSequenceClassification(config).eval()
    features = decoder_features(model, tokenizer, TEXTS, max_length=8, batch_size=2, precision="fp32")
    tokenizer.padding_side = "right"
    batch = tokenizer(TEXTS, truncation=True, max_length=8, padding=True, return_tensors="pt")
    with torch.no_grad():
        reference = model(**batch).logits                                          # (3, 2): score(last real token)
        hidden = model.model(**batch).last_hidden_state                             # (3, T, 32)
    ours = torch.from_numpy(features["last"]) @ model.score.weight.T
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
    mask = batch["attention_mask"].unsqueeze(-1)
    torch.testing.assert_close(torch.from_numpy(features["mean"]), (hidden * mask).sum(1) / mask.sum(1),
                               rtol=1e-4, atol=1e-4)
    assert tokenizer.truncation_side == "left"                                      # the end of a review is kept


def _wordpiece():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def test_mlm_chunks_keep_the_end_in_cls_sep_blocks():
    tokenizer = _wordpiece()
    ids = mlm_chunks(tokenizer, ["a b c d e a b c", "e"], max_length=10, block=5)   # 2 chunks of 3 word pieces
    a, b, c, d, e = 5, 6, 7, 8, 9
    assert ids.shape == (2, 2, 5)
    assert ids[0].tolist() == [[2, c, d, e, 3], [2, a, b, c, 3]]                   # the last 6 of 8 pieces
    assert ids[1].tolist() == [[2, e, 3, 0, 0], [2, 3, 0, 0, 0]]                   # short: filled from the start


def test_small_mlm_classifier_pools_word_pieces_only():
    torch.manual_seed(0)
    mlm = MaskedLM(vocab_size=10, dim=8, heads=2, layers=1, ff=16, max_len=5).eval()
    model = _mlm_classifier_class()(mlm, pad_id=0, special_ids=[2, 3, 0]).eval()
    short = torch.tensor([[[2, 7, 8, 3, 0]]])                                       # one chunk
    padded = torch.tensor([[[2, 7, 8, 3, 0], [2, 3, 0, 0, 0]]])                    # + an empty chunk
    with torch.no_grad():
        logits_short, logits_padded = model(short), model(padded)
        x = mlm.embed_scale * mlm.tokens(short[0]) + mlm.positions(torch.arange(5))
        hidden = mlm.norm(mlm.encoder(x, src_key_padding_mask=short[0] == 0))[0, 1:3].mean(0)
    torch.testing.assert_close(logits_padded, logits_short)                         # empty chunks change nothing
    torch.testing.assert_close(logits_short[0], model.head(hidden))


def test_statistics():
    a = np.array([1, 1, 1, 1, 0, 0, 1, 1, 0, 1], bool)
    b = np.array([1, 0, 0, 0, 0, 1, 0, 1, 0, 1], bool)
    assert mcnemar_p(a, b) == pytest.approx(binomtest(4, 5, 0.5).pvalue)          # 4 only-A, 1 only-B
    assert mcnemar_p(a, a) == 1.0
    correct = np.random.default_rng(0).random((3, 500)) < 0.8
    low, high = bootstrap_accuracy(correct)
    assert low < correct.mean() < high and high - low == pytest.approx(2 * 1.96 * np.sqrt(0.8 * 0.2 / 1500), rel=0.5)
    assert positive_probability(np.array([[0.0, 0.0], [0.0, 2.0]])) == pytest.approx([0.5, 1 / (1 + np.exp(-2))])


def test_recipe_and_cache_names_follow_the_config():
    cfg = ComparisonConfig()
    assert _cache_name("encoder", cfg, None) == "imdb_compare_minilm"
    assert _cache_name("encoder", cfg, "FacebookAI/roberta-base") != "imdb_compare_minilm"
    assert recipe("mlm", ComparisonConfig(n_train=768)) != recipe("mlm", cfg)


def test_small_mlm_recipe_follows_the_pretrained_mlm(monkeypatch):
    """A changed "mlm_tiny" recipe rebuilds the small-MLM comparison; the other kinds do not move."""
    from shared.train import tiny_mlm

    cfg = ComparisonConfig()
    before = {kind: recipe(kind, cfg) for kind in ("encoder", "decoder", "mlm")}
    monkeypatch.setattr(tiny_mlm, "recipe_string", lambda recipe=None: "tiny MLM changed")
    assert recipe("mlm", cfg) != before["mlm"]
    assert recipe("encoder", cfg) == before["encoder"] and recipe("decoder", cfg) == before["decoder"]
    assert cfg.classifier_config().truncation_side == "left"
