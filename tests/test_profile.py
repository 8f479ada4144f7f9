import time

import pytest

from shared import profile


@pytest.fixture(autouse=True)
def fresh_profile(monkeypatch):
    profile.active_profile.cache_clear()
    yield
    profile.active_profile.cache_clear()


@pytest.mark.parametrize("name", ["tiny", "full"])
def test_env_var_chooses(monkeypatch, name):
    monkeypatch.setenv("JOURNEY_PROFILE", name)
    assert profile.active_profile().name == name
    assert "JOURNEY_PROFILE" in profile.active_profile().reason


def test_bad_env_var_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("JOURNEY_PROFILE", "huge")
    with pytest.raises(ValueError, match="tiny, full"):
        profile.active_profile()


def test_auto_without_gpu_is_tiny(monkeypatch):
    monkeypatch.delenv("JOURNEY_PROFILE", raising=False)
    monkeypatch.setattr(profile, "cuda_available", lambda: False)
    assert profile.active_profile().name == "tiny"


def test_auto_with_gpu_but_no_hub_is_tiny(monkeypatch):
    monkeypatch.delenv("JOURNEY_PROFILE", raising=False)
    monkeypatch.setattr(profile, "cuda_available", lambda: True)
    monkeypatch.setattr(profile, "hub_reachable", lambda: False)
    chosen = profile.active_profile()
    assert chosen.name == "tiny" and "unreachable" in chosen.reason


def test_auto_with_gpu_and_hub_is_full(monkeypatch):
    monkeypatch.delenv("JOURNEY_PROFILE", raising=False)
    monkeypatch.setattr(profile, "cuda_available", lambda: True)
    monkeypatch.setattr(profile, "hub_reachable", lambda: True)
    assert profile.active_profile().name == "full"


def test_pick_follows_the_profile(monkeypatch):
    monkeypatch.setenv("JOURNEY_PROFILE", "tiny")
    assert profile.pick(tiny=1, full=2) == 1
    profile.active_profile.cache_clear()
    monkeypatch.setenv("JOURNEY_PROFILE", "full")
    assert profile.pick(tiny=1, full=2) == 2


def test_hub_check_is_quick_and_false_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    reachable = profile.hub_reachable(timeout=2.0)
    assert time.perf_counter() - start < 5
    assert reachable in (True, False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert profile.hub_reachable() is False


def test_full_profile_without_hub_fails_fast_with_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="JOURNEY_PROFILE=tiny"):
        profile.require_hub("dataset X")


def test_start_in_tiny_fixes_torch_threads(monkeypatch, tmp_path, capsys):
    import torch

    from shared import notebook

    monkeypatch.setenv("JOURNEY_PROFILE", "tiny")
    monkeypatch.setenv("JOURNEY_BUILD", str(tmp_path))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        notebook.start("module01_nlp_foundations/01_nlp_and_applications.ipynb")
        assert torch.get_num_threads() == notebook.TINY_THREADS == 1
        assert "threads:  1" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)
