"""Video captioning pieces: CIDEr-D against hand-computed cases, the video reader round trip, the
moving-shapes scenes (captions parse back, reversal, slot words), the bag-of-frames encoder's
blindness to order, the word-slot mapper, and the prompted LM's cached prompt (a tiny random Llama
with SmolLM2's tokenizer: its loss and greedy captions equal those of the full, uncached sequence)."""
import math
import random

import numpy as np
import pytest
import torch

from shared.nn.video_prefix import ClipEncoder, WordSlotMapper, clips_to_tensor
from shared.text.caption_metrics import caption_scores, cider_d, words
from shared.vision import moving_shapes as ms
from shared.vision.video import (
    frame_indices,
    read_frames,
    sample_frames,
    video_info,
    write_video,
)

# --- CIDEr-D ----------------------------------------------------------------------------------

def test_cider_hand_computed_with_clipping_and_length_penalty():
    # unigrams only. Two clips, so log(#clips) = log 2 =: L, and every word occurs in one reference
    # set: idf = L - log 1 = L for each word. Clip 1: candidate "red red circle" = {red: 2L, circle: L},
    # reference {red: L, circle: L}. Clipped dot = min(2L, L) L + L L = 2 L^2; norms L sqrt 5, L sqrt 2:
    # cosine 2 / sqrt 10. Lengths 3 vs 2: penalty exp(-1 / (2 * 6^2)). Clip 2 matches exactly: 10.
    corpus, scores = cider_d(["red red circle", "blue square"], [["red circle"], ["blue square"]], max_n=1)
    expected_1 = 10 * 2 / math.sqrt(10) * math.exp(-1 / 72)
    assert scores == pytest.approx([expected_1, 10.0])
    assert corpus == pytest.approx((expected_1 + 10) / 2)


def test_cider_gives_a_word_in_every_reference_no_weight():
    # "a" is in both clips' references: idf = log 2 - log 2 = 0. Clip 1 shares only "circle" of
    # {blue, circle} vs {red, circle} (each weight L): cosine L^2 / (sqrt 2 L)^2 = 1/2 -> 5.
    _, scores = cider_d(["a blue circle", "a blue square"], [["a red circle"], ["a blue square"]], max_n=1)
    assert scores == pytest.approx([5.0, 10.0])


def test_cider_a_caption_too_short_for_an_order_scores_zero_there():
    # two words: unigrams and the bigram match (cosine 1), no 3- or 4-grams: mean (1 + 1 + 0 + 0) / 4
    assert cider_d(["a cat", "a dog"], [["a cat"], ["a dog"]])[1] == pytest.approx([5.0, 5.0])


def test_cider_averages_over_references_and_checks_lengths():
    one = cider_d(["blue square", "red circle"], [["blue square"], ["red circle"]], max_n=1)[1][0]
    two = cider_d(["blue square", "red circle"], [["blue square", "red circle"], ["red circle"]], max_n=1)[1][0]
    assert one == pytest.approx(10.0) and 0 < two < one
    with pytest.raises(ValueError, match="one list of references per candidate"):
        cider_d(["a"], [])


def test_caption_scores_are_perfect_on_a_perfect_match():
    refs = ["a red circle moves left, then a blue square appears", "a green square disappears, then a red triangle moves up"]
    scores = caption_scores(refs, refs)
    assert scores["BLEU-4"] == pytest.approx(100.0) and scores["ROUGE-L"] == pytest.approx(1.0)
    assert scores["CIDEr-D"] == pytest.approx(10.0)
    assert words("A red circle, then...") == ["a", "red", "circle", "then"]


# --- video files ------------------------------------------------------------------------------

def test_write_then_read_a_clip(tmp_path):
    scene = ms.random_scene(random.Random(0))
    frames = ms.render(scene)                                # (8, 64, 64, 3)
    path = write_video(tmp_path / "clip.mp4", frames, fps=4)
    info = video_info(path)
    assert (info.frames, info.fps, info.width, info.height) == (8, 4.0, 64, 64) and info.seconds == 2.0
    back = read_frames(path)
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - frames).mean() < 8  # lossy (0-255 scale), but close
    small = sample_frames(path, n=4, size=32)
    assert small.shape == (4, 32, 32, 3)


def test_frame_indices_are_evenly_spaced():
    assert frame_indices(8, 8).tolist() == list(range(8))
    assert frame_indices(100, 4).tolist() == [12, 37, 62, 87]
    assert frame_indices(3, 5).tolist() == [0, 0, 1, 2, 2]


def test_reader_errors_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no video at"):
        read_frames(tmp_path / "missing.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError):
        read_frames(tmp_path / "bad.mp4")
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), dtype=np.float32))


# --- the scenes -------------------------------------------------------------------------------

def test_captions_parse_back_and_reversal_plays_the_clip_backwards():
    rng = random.Random(1)
    for _ in range(100):
        scene = ms.random_scene(rng)
        assert ms.parse_caption(ms.caption(scene)) == ms.attributes(scene)
        backwards = ms.reversed_scene(scene)
        assert (ms.render(backwards) == ms.render(scene)[::-1]).all()
        assert backwards.order != scene.order and backwards.change != scene.change


def test_caption_example_and_grading():
    scene = ms.Scene("red", "circle", "left", (50, 20), "blue", "square", "appears", (30, 50), "motion first")
    assert ms.caption(scene) == "a red circle moves left, then a blue square appears"
    assert ms.attribute_accuracy([scene], [ms.caption(scene)]) == {a: 1.0 for a in ms.ATTRIBUTES}
    wrong = ms.attribute_accuracy([scene], ["a blue square disappears, then a red circle moves right"])
    assert wrong == {"colour": 1.0, "shape": 1.0, "direction": 0.0, "change": 0.0, "order": 0.0}
    assert ms.attribute_accuracy([scene], ["a red circle moves"])["order"] == 0.0  # unparseable: wrong


def test_majority_baseline():
    rng = random.Random(2)
    train, test = [ms.random_scene(rng) for _ in range(400)], [ms.random_scene(rng) for _ in range(400)]
    base = ms.majority_accuracy(train, test)
    assert 0.4 < base["order"] < 0.6 and 0.15 < base["direction"] < 0.35 and 0.2 < base["shape"] < 0.45


def test_slot_words_and_the_template_invert_each_other():
    rng = random.Random(3)
    for _ in range(50):
        scene = ms.random_scene(rng)
        words = ms.content_words(scene)
        assert words == ms.caption_content_words(ms.caption(scene))
        assert ms.caption_from_words(words) == ms.caption(scene)
        assert all(w in allowed for w, (_, allowed) in zip(words, ms.SLOTS))
    with pytest.raises(ValueError, match="expected 6 words"):
        ms.caption_from_words(["red", "circle"])


# --- the encoder ------------------------------------------------------------------------------

def test_bag_of_frames_is_blind_to_order_and_the_temporal_encoder_is_not():
    torch.manual_seed(0)
    clips = torch.rand(2, 8, 3, 32, 32)
    backwards = clips.flip(1)
    bag = ClipEncoder(dim=16, temporal=False).eval()
    temporal = ClipEncoder(dim=16, temporal=True).eval()
    with torch.no_grad():
        assert bag(clips).shape == temporal(clips).shape == (2, 16)
        torch.testing.assert_close(bag(clips), bag(backwards), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(temporal(clips), temporal(backwards), atol=1e-4)
    with pytest.raises(ValueError, match="n_frames=8"):
        temporal(clips[:, :4])


def test_word_slots_are_mixtures_of_the_lm_word_embeddings():
    torch.manual_seed(0)
    embeddings = torch.randn(20, 6)                     # a vocabulary of 20 "words" in an LM of width 6
    mapper = WordSlotMapper(4, [[3, 5], [7, 8, 9]], embeddings)
    prefix, logits = mapper(torch.randn(5, 4))
    assert prefix.shape == (5, 2, 6) and [s.shape for s in logits] == [(5, 2), (5, 3)]
    expected = logits[1].softmax(-1) @ embeddings[[7, 8, 9]]
    torch.testing.assert_close(prefix[:, 1], expected)
    with torch.no_grad():                                # a sure head writes exactly the word's embedding
        mapper.heads[0].weight.zero_()
        mapper.heads[0].bias.copy_(torch.tensor([0.0, 100.0]))
    torch.testing.assert_close(mapper(torch.randn(1, 4))[0][0, 0], embeddings[5])


@pytest.fixture(scope="module")
def tiny_talker():
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from shared.assets import require
    from shared.train.video_captioner import PromptedLM

    tokenizer = AutoTokenizer.from_pretrained(require("smollm2"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    lm = LlamaForCausalLM(config).eval().requires_grad_(False)
    return PromptedLM(lm, tokenizer, shots=("a red circle moves left, then a blue square appears",), between=",")


def _full_inputs(talker, words, caption):
    """The whole sequence as token embeddings, without the cache: head, words, tail, caption."""
    word_ids = torch.tensor([[talker.tokenizer(" " + w, add_special_tokens=False).input_ids[0] for w in words]])
    ids = talker.tokenizer(caption, add_special_tokens=False, return_tensors="pt").input_ids
    return torch.cat([talker.head_ids, word_ids[:, :3], talker.middle_ids, word_ids[:, 3:], talker.tail_ids, ids], dim=1), word_ids


def test_cached_prompt_loss_equals_the_uncached_sequence_and_ignores_padding(tiny_talker):
    import torch.nn.functional as F

    talker = tiny_talker
    captions = ["a green triangle disappears, then a yellow circle moves down",
                "a red square moves up, then a blue circle appears"]
    words = [ms.caption_content_words(c) for c in captions]
    slots = torch.cat([talker.embed(_full_inputs(talker, w, c)[1]) for w, c in zip(words, captions)])
    loss = talker.loss(slots, captions, precision="fp32")
    manual = []
    for w, c in zip(words, captions):  # one row at a time, no cache, no padding
        full, _ = _full_inputs(talker, w, c)
        full = torch.cat([full, torch.tensor([[talker.end_id]])], dim=1)
        labels = full[0, -(len(talker.tokenizer(c, add_special_tokens=False).input_ids) + 1):]
        logits = talker.lm(input_ids=full).logits[0, -len(labels) - 1:-1]
        manual.append(F.cross_entropy(logits, labels, reduction="sum"))
    n_tokens = sum(len(talker.tokenizer(c, add_special_tokens=False).input_ids) + 1 for c in captions)
    torch.testing.assert_close(loss, torch.stack(manual).sum() / n_tokens, rtol=1e-4, atol=1e-4)


def test_generate_from_slots_equals_greedy_decoding_of_the_full_prompt(tiny_talker):
    talker = tiny_talker
    words = ["green", "triangle", "disappears", "yellow", "circle", "down"]
    full, word_ids = _full_inputs(talker, words, "")
    ours = talker.generate(talker.embed(word_ids).expand(2, -1, -1), max_new_tokens=5, precision="fp32")
    ids = talker.lm.generate(full, attention_mask=torch.ones_like(full), max_new_tokens=5, do_sample=False,
                             eos_token_id=talker.end_id, pad_token_id=talker.end_id)[0, full.shape[1]:].tolist()
    ids = ids[:ids.index(talker.end_id)] if talker.end_id in ids else ids
    assert ours == [talker.tokenizer.decode(ids, skip_special_tokens=True).strip()] * 2


def test_slot_targets_index_each_slot_word():
    from shared.train.video_captioner import predicted_words, slot_targets

    captions = ["a red circle moves left, then a blue square appears"]
    targets = slot_targets(captions)
    one_hot = [torch.nn.functional.one_hot(targets[:, k], len(words)).float() for k, (_, words) in enumerate(ms.SLOTS)]
    assert predicted_words(one_hot) == [ms.caption_content_words(captions[0])]


def test_clips_to_tensor_checks_its_input():
    x = clips_to_tensor(np.full((1, 2, 4, 4, 3), 255, dtype=np.uint8))
    assert x.shape == (1, 2, 3, 4, 4) and x.max() == 1.0
    with pytest.raises(ValueError, match="uint8"):
        clips_to_tensor(np.zeros((1, 2, 4, 4, 3), dtype=np.float32))
