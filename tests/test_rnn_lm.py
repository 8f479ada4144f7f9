"""shared.nn.rnn_lm: shapes and tied weights, carried state = one long pass, the NLL it reports, and
that it learns a sequence only memory can predict."""
import math

import pytest
import torch
from torch.nn import functional as F

from shared.nn.rnn_lm import RNNLanguageModel, batchify, bptt_windows, detach, mean_nll


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_shapes_and_tied_weights(cell):
    model = RNNLanguageModel(vocab_size=50, dim=16, num_layers=2, cell=cell)
    logits, state = model(torch.randint(50, (3, 7)))
    assert logits.shape == (3, 7, 50)
    assert model.output.weight is model.embedding.weight
    untied = RNNLanguageModel(vocab_size=50, dim=16, tie_weights=False)
    n_params = lambda m: sum(p.numel() for p in m.parameters())
    assert n_params(untied) - n_params(RNNLanguageModel(vocab_size=50, dim=16)) == 50 * 16


def test_batchify_and_windows_cover_the_stream_in_order():
    data = batchify(torch.arange(23), batch_size=2)               # (2, 11); token 22 dropped
    assert data.tolist()[1][:3] == [11, 12, 13]
    windows = list(bptt_windows(data, length=4))
    assert [x.shape[1] for x, _ in windows] == [4, 4, 2]          # 10 predicted columns
    assert torch.equal(torch.cat([x for x, _ in windows], 1), data[:, :-1])
    assert torch.equal(torch.cat([y for _, y in windows], 1), data[:, 1:])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_carried_state_equals_one_long_pass(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(vocab_size=30, dim=8, cell=cell).eval()
    ids = torch.randint(30, (2, 12))
    whole, _ = model(ids)
    first, state = model(ids[:, :5])
    second, _ = model(ids[:, 5:], detach(state))
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_mean_nll_is_the_cross_entropy_of_every_next_token():
    torch.manual_seed(0)
    model = RNNLanguageModel(vocab_size=20, dim=8)
    data = torch.randint(20, (2, 9))
    logits, _ = model.eval()(data[:, :-1])
    expected = F.cross_entropy(logits.flatten(0, 1), data[:, 1:].flatten()).item()
    assert mean_nll(model, data, length=3) == pytest.approx(expected, rel=1e-5)
    assert model.training  # evaluation hands the model back in training mode


@pytest.fixture
def one_thread():
    """Tiny tensors: a second thread only adds synchronisation (and waits on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_learns_a_sequence_that_needs_memory_across_windows(one_thread):
    # "0 1 2 ... 6 0 1 ...": every next token is fixed, but only the history says which it is
    torch.manual_seed(0)
    data = batchify(torch.arange(7).repeat(40), batch_size=4)   # (4, 70)
    model = RNNLanguageModel(vocab_size=7, dim=16, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(10):
        state = None
        for x, y in bptt_windows(data, length=10):
            logits, state = model(x, detach(state))
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert math.exp(mean_nll(model, data)) < 1.1  # uniform guessing would be 7


def test_generate_returns_new_ids_in_the_vocabulary():
    model = RNNLanguageModel(vocab_size=12, dim=8)
    new = model.generate([1, 2, 3], max_new_tokens=6, generator=torch.Generator().manual_seed(0))
    assert len(new) == 6 and all(0 <= i < 12 for i in new)


def test_a_short_run_is_the_start_of_the_full_run():
    """train_rnn_lm(max_steps=k) replays the first k steps of the full run exactly (the notebook
    checks its live steps against the cached run this way)."""
    from dataclasses import replace

    from shared.train.tiny_rnn_lm import RNNRecipe, make_model, train_rnn_lm

    recipe = replace(RNNRecipe(), dim=8, batch_size=4, bptt=5, epochs=2, dropout=0.3)
    data = batchify(torch.randint(0, 20, (400,), generator=torch.Generator().manual_seed(0)), recipe.batch_size)
    full, _, _ = train_rnn_lm(make_model(recipe, 20, seed=1), data, recipe, seed=1, progress=False)
    short, _, _ = train_rnn_lm(make_model(recipe, 20, seed=1), data, recipe, seed=1, max_steps=7, progress=False)
    assert len(full) == 2 * len(range(0, data.size(1) - 1, recipe.bptt)) and len(short) == 7
    assert short == full[:7]
    assert RNNRecipe().cache_name() == "rnn_lm_tiny" and replace(RNNRecipe(), epochs=1).cache_name() != "rnn_lm_tiny"
