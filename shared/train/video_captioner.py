"""Train a clip encoder so that a frozen SmolLM2 writes the clip's caption (ClipCap style), and the
cached run of notebook 11/08: the temporal encoder and its bag-of-frames ablation.

    lm, tokenizer = load_causal_lm(); freeze(lm)
    talker = PromptedLM(lm, tokenizer)                    # a fixed few-shot prompt, its KV cache computed once
    mapper = new_mapper(talker, cfg)                      # clip vector -> 6 word-slot vectors in the LM's input space
    prefix, logits = mapper(encoder(clips))
    loss = talker.loss(prefix, captions)                  # teacher forcing on the caption tokens only
    captions = talker.generate(prefix)                    # greedy, stops at <|im_end|>
    run = load_run()                                      # the cached run (built once)

The LM reads a chat prompt with four worked examples, "Words: red circle left blue square appears"
-> "a red circle moves left, then a blue square appears", and then, for the clip, six *visual*
word slots in place of the words. Writing the caption from them is the LM's job: adding the
articles and "moves", the comma and "then", and keeping the events in the order of the slots.

Training, in three cached steps (CPU minutes are scarce, so each part learns where it is cheapest):
1. learn to see (no LM): the frame CNN, a temporal mixer and the slot heads learn to name the
   caption's content words in order (cross-entropy per slot);
2. the ablation: with that frame CNN frozen, both variants (temporal, bag of frames) train a fresh
   mixer and fresh slot heads with the same recipe and budget, so the only difference is whether
   the frames are combined in order;
3. learn to talk to the LM (ClipCap): the slot heads and a learned offset per slot are fine-tuned
   through the frozen LM's caption loss, whose gradient flows back through all 30 layers into the
   prefix. A few steps are enough: the slots start as words the LM can already read.
"""
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..assets import build_once, register_derived
from ..nn.video_prefix import ClipEncoder, WordSlotMapper, clips_to_tensor
from ..vision import moving_shapes as ms

VARIANTS = {"temporal": True, "bag of frames": False}  # name -> ClipEncoder(temporal=...)
CEILING_CLIPS = 50  # test clips the LM also captions from their true words (each caption costs ≈ 0.3 CPU s)

SYSTEM = "You write a caption from the words of a video clip."
SHOTS = ("a red circle moves left, then a blue square appears",         # the worked examples of the prompt:
         "a green triangle disappears, then a yellow circle moves down",  # both orders, both changes, every
         "a yellow square moves up, then a red triangle disappears",      # colour, shape and direction. Eight
         "a blue circle appears, then a green square moves right",        # copied the true words best on the
         "a red circle moves right, then a yellow square disappears",     # validation clips (2, 4, 12 and 16
         "a yellow square moves down, then a red circle appears",         # were worse: with more, the small LM
         "a yellow square disappears, then a blue circle moves left",     # starts to copy the examples instead)
         "a red square appears, then a yellow square moves right")
BETWEEN = ""  # text between the two events' word slots in the prompt


@dataclass
class CaptionerConfig:
    """One training recipe; the defaults are the tiny profile's cached run."""
    lm: str | None = None       # the frozen LM; None: the profile's causal LM (tiny: SmolLM2-135M-Instruct)
    n_frames: int = 8           # frames sampled per clip
    size: int = 32              # pixels per side after resizing
    dim: int = 128              # width of the frame and clip features
    see_steps: int = 400        # step 1: steps of the whole encoder (CNN + temporal mixer + slot heads), no LM
    mix_steps: int = 600        # step 2: steps of each variant's fresh mixer + slot heads on the frozen CNN
    see_batch_size: int = 32    # clips per step in steps 1 and 2
    see_lr: float = 3e-3        # AdamW learning rate of steps 1 and 2 (constant)
    steps: int = 12             # step 3: steps through the frozen LM, per variant (0: the LM only reads)
    batch_size: int = 16        # clips per step-3 step
    lr: float = 3e-3            # step-3 AdamW learning rate of the slot heads and slot offsets
    max_new_tokens: int = 20    # generation budget (a caption is 13 to 15 tokens, then <|im_end|>)
    precision: str = "bf16"     # step 3: LM forward/backward under bfloat16 autocast ("fp32" to turn off)
    gen_precision: str = "fp32" # generation (on a CPU, float32 decodes faster than bfloat16 autocast)
    seed: int = 0


def freeze(lm) -> None:
    lm.eval()
    lm.requires_grad_(False)


def _autocast(precision: str):
    return torch.autocast("cpu" if not torch.cuda.is_available() else "cuda", dtype=torch.bfloat16,
                          enabled=precision == "bf16")


def prompt_words(words: list[str], between: str = "") -> str:
    """"Words: red circle left blue square appears" (`between` goes between the two events)."""
    return "Words: " + " ".join(words[:3]) + between + " " + " ".join(words[3:])


# --- the frozen LM behind a fixed prompt ----------------------------------------------------------

class PromptedLM:
    """The frozen LM behind a fixed chat prompt with worked examples. The prompt's text before the
    visual slots (`head`, ≈ 150 tokens) is the same for every clip: its keys and values are
    computed once and reused (the KV cache), so a step costs only the slots, the short `tail`
    ("<|im_end|> <|im_start|>assistant") and the caption."""

    MARK = "\x00SLOTS\x00"

    def __init__(self, lm, tokenizer, shots: tuple[str, ...] = SHOTS, system: str = SYSTEM, between: str = BETWEEN):
        from transformers import DynamicCache

        self.lm, self.tokenizer, self.device = lm, tokenizer, lm.device
        messages = [{"role": "system", "content": system}]
        for shot in shots:
            words = ms.caption_content_words(shot)
            messages += [{"role": "user", "content": prompt_words(words, between)}, {"role": "assistant", "content": shot}]
        messages.append({"role": "user", "content": "Words:" + self.MARK + between + self.MARK})
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        head, middle, tail = text.split(self.MARK)
        tokens = lambda text: tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids.to(self.device)
        self.head_ids = tokens(head)                      # (1, H): the same for every clip, cached below
        self.middle_ids = tokens(middle)                  # (1, M): between the two events' slots (may be empty)
        self.tail_ids = tokens(tail)                      # (1, 5): "<|im_end|>\n<|im_start|>assistant\n"
        self.end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        with torch.no_grad():
            cache = lm(input_ids=self.head_ids, cache=DynamicCache(), use_cache=True).cache
        self.head_kv = [(layer.keys, layer.values) for layer in cache.layers]   # per layer: (1, heads, H, head_dim)
        # the token of each slot word as it follows a space (" red"): one token each in SmolLM2
        self.slot_token_ids = [[self._one_token(" " + w) for w in words] for _, words in ms.SLOTS]

    def _one_token(self, text: str) -> int:
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        if len(ids) != 1:
            raise ValueError(f"{text!r} is {len(ids)} tokens for this tokenizer; a word slot needs one token")
        return ids[0]

    def cache(self, batch: int):
        """A fresh KV cache of the head, for `batch` rows (the stored one is never modified)."""
        from transformers import DynamicCache

        cache = DynamicCache()
        for layer, (k, v) in enumerate(self.head_kv):
            cache.update(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1), layer)
        return cache

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm.get_input_embeddings()(ids)

    def _inputs(self, prefix: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """[first event's slots, middle, second event's slots, tail, ids] as input vectors (B, K + M + 5 + L, D)."""
        B = len(prefix)
        half = prefix.shape[1] // 2
        parts = [prefix[:, :half], self.embed(self.middle_ids).expand(B, -1, -1), prefix[:, half:],
                 self.embed(self.tail_ids).expand(B, -1, -1)]
        if ids is not None:
            parts.append(self.embed(ids))
        return torch.cat(parts, dim=1)

    def caption_batch(self, captions: list[str]) -> torch.Tensor:
        """(B, L) token ids of each caption + <|im_end|>, right-padded with <|im_end|>; -100 marks
        the padding in the labels (see `loss`)."""
        rows = [self.tokenizer(c, add_special_tokens=False).input_ids + [self.end_id] for c in captions]
        width = max(map(len, rows))
        return torch.tensor([row + [-100] * (width - len(row)) for row in rows], device=self.device)

    def loss(self, prefix: torch.Tensor, captions: list[str], precision: str = "bf16") -> torch.Tensor:
        """Mean cross-entropy of the caption tokens (and the end token) given the slots (B, K, D),
        teacher forced; the prompt and the slots themselves are not scored."""
        labels = self.caption_batch(captions)                                 # (B, L), -100 after the end
        ids = labels.clamp(min=0)                                             # padding fed as token 0: never scored
        inputs = self._inputs(prefix, ids[:, :-1])                            # (B, K + 5 + L - 1, D)
        with _autocast(precision):
            # the last tail position predicts caption token 0, ..., the one before the end predicts the end
            logits = self.lm(inputs_embeds=inputs, cache=self.cache(len(prefix)),
                             logits_to_keep=labels.shape[1]).logits                           # (B, L, V)
        return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)

    @torch.no_grad()
    def generate(self, prefix: torch.Tensor, max_new_tokens: int = 20, precision: str = "bf16") -> list[str]:
        """Greedy captions for a batch of slot vectors (B, K, D); each stops at <|im_end|>."""
        B = len(prefix)
        cache, inputs = self.cache(B), self._inputs(prefix)
        out = torch.full((B, max_new_tokens), self.end_id, device=self.device)
        done = torch.zeros(B, dtype=torch.bool, device=self.device)
        for t in range(max_new_tokens):
            with _autocast(precision):
                logits = self.lm(inputs_embeds=inputs, cache=cache, use_cache=True, logits_to_keep=1).logits
            next_id = logits[:, -1].float().argmax(-1).masked_fill(done, self.end_id)    # (B,)
            out[:, t] = next_id
            done |= next_id == self.end_id
            if done.all():
                break
            inputs = self.embed(next_id[:, None])                                       # (B, 1, D)
        texts = []
        for row in out.tolist():
            row = row[:row.index(self.end_id)] if self.end_id in row else row
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return texts


def new_encoder(cfg: "CaptionerConfig", temporal: bool) -> ClipEncoder:
    torch.manual_seed(cfg.seed)  # both variants start from the same weights where their shapes agree
    return ClipEncoder(cfg.n_frames, cfg.size, cfg.dim, temporal=temporal)


def new_mapper(talker: PromptedLM, cfg: "CaptionerConfig") -> WordSlotMapper:
    torch.manual_seed(cfg.seed + 1)
    return WordSlotMapper(cfg.dim, talker.slot_token_ids, talker.lm.get_input_embeddings().weight).to(talker.device)


def slot_targets(captions: list[str]) -> torch.Tensor:
    """(B, K): the index of each content word of each caption within its slot's word list."""
    return torch.tensor([[words.index(w) for (_, words), w in zip(ms.SLOTS, ms.caption_content_words(c))]
                         for c in captions])


def slot_loss(logits: list[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """Mean over slots of the cross-entropy of each slot's word."""
    return torch.stack([F.cross_entropy(scores, targets[:, k]) for k, scores in enumerate(logits)]).mean()


@torch.no_grad()
def slot_accuracy(logits: list[torch.Tensor], targets: torch.Tensor) -> dict[str, float]:
    """Per slot: how often the highest-scoring word is the caption's."""
    return {name: (scores.argmax(-1) == targets[:, k]).float().mean().item()
            for k, ((name, _), scores) in enumerate(zip(ms.SLOTS, logits))}


def predicted_words(logits: list[torch.Tensor]) -> list[list[str]]:
    """The highest-scoring word of each slot, per clip."""
    return [[ms.SLOTS[k][1][i] for k, i in enumerate(row)] for row in torch.stack([s.argmax(-1) for s in logits], 1).tolist()]


def words_prefix(talker: "PromptedLM", indices: torch.Tensor) -> torch.Tensor:
    """Hard slots: the LM's own embeddings of the chosen words, (N, K) indices -> (N, K, D)."""
    ids = torch.tensor([[talker.slot_token_ids[k][i] for k, i in enumerate(row)] for row in indices.tolist()],
                       device=talker.device)
    return talker.embed(ids).detach()


def load_clips(rows: list[dict], n_frames: int, size: int) -> np.ndarray:
    """(N, T, size, size, 3) uint8: `n_frames` frames of each row's video, read from the file."""
    from ..vision.video import sample_frames

    return np.stack([sample_frames(row["video"], n_frames, size) for row in rows])


# --- steps 1 and 2: learn to see (no LM, cheap) ---------------------------------------------------

def train_slots(encoder: ClipEncoder, mapper: WordSlotMapper, inputs: torch.Tensor, targets: torch.Tensor,
                steps: int, cfg: CaptionerConfig, frames_frozen: bool, desc: str, progress: bool = True) -> list[float]:
    """Train the encoder (all of it, on clips; or only its mixer, on frozen frame features) and the
    slot heads to name each slot's word. `inputs`: clips (N, T, 3, H, W) or frame features (N, T, d)."""
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(cfg.seed + 2)
    params = list(encoder.mix.parameters()) if frames_frozen else list(encoder.parameters())
    optimizer = torch.optim.AdamW(params + list(mapper.heads.parameters()), lr=cfg.see_lr, weight_decay=0.0)
    encoder.train()
    losses = []
    for _ in tqdm(range(steps), disable=not progress, desc=desc):
        batch = torch.randint(len(inputs), (cfg.see_batch_size,), generator=generator)
        features = encoder.combine(inputs[batch]) if frames_frozen else encoder(inputs[batch])
        loss = slot_loss(mapper.logits(features), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def frame_features(encoder: ClipEncoder, clips: np.ndarray, chunk: int = 250) -> torch.Tensor:
    """(N, T, d) frame features of uint8 clips (N, T, H, W, 3), in chunks."""
    encoder.eval()
    return torch.cat([encoder.frame_features(clips_to_tensor(clips[i:i + chunk])) for i in range(0, len(clips), chunk)])


# --- step 3: learn to talk to the frozen LM (ClipCap) ---------------------------------------------

def train_through_lm(talker: PromptedLM, encoder: ClipEncoder, mapper: WordSlotMapper, train_features: torch.Tensor,
                     train_captions: list[str], cfg: CaptionerConfig, progress: bool = True) -> list[float]:
    """Fine-tune the slot heads and slot offsets through the frozen LM's caption loss (the clip
    vectors stay fixed)."""
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(cfg.seed + 3)
    optimizer = torch.optim.AdamW(mapper.parameters(), lr=cfg.lr, weight_decay=0.0)   # the heads and the slot offsets
    with torch.no_grad():
        clip_vectors = encoder.eval().combine(train_features).to(talker.device)        # (N, d); the encoder stays on the CPU
    losses = []
    for _ in tqdm(range(cfg.steps), disable=not progress, desc="step 3 (talk)"):
        batch = torch.randint(len(clip_vectors), (cfg.batch_size,), generator=generator)
        prefix, _ = mapper(clip_vectors[batch])
        loss = talker.loss(prefix, [train_captions[i] for i in batch], cfg.precision)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def validation_loss(talker: PromptedLM, encoder: ClipEncoder, mapper: WordSlotMapper, features: torch.Tensor,
                    captions: list[str], cfg: CaptionerConfig) -> float:
    """The LM's caption loss (teacher forced) on the validation clips, in batches of 50."""
    prefix, _ = mapper.eval()(encoder.eval().combine(features).to(talker.device))
    losses = [talker.loss(prefix[i:i + 50], captions[i:i + 50], cfg.gen_precision).item() * len(prefix[i:i + 50])
              for i in range(0, len(prefix), 50)]
    return sum(losses) / len(prefix)


SEE_FIELDS = ("n_frames", "size", "dim", "see_steps", "mix_steps", "see_batch_size", "see_lr", "seed")  # what steps 1-2 depend on


def _prepare(cfg: CaptionerConfig, splits: tuple[str, ...]):
    from ..data.videos import moving_shapes
    from ..models import load_causal_lm
    from ..utils import get_device

    lm, tokenizer = load_causal_lm(cfg.lm, dtype=torch.float32)
    lm.to(get_device())   # the frozen LM on the GPU if there is one; the small clip encoder stays on the CPU
    freeze(lm)
    rows = {split: moving_shapes(split) for split in splits}
    clips = {split: load_clips(r, cfg.n_frames, cfg.size) for split, r in rows.items()}
    captions = {split: [row["caption"] for row in r] for split, r in rows.items()}
    return lm, tokenizer, clips, captions


def _single_thread(fn):
    """Run fn() on one CPU thread (the same floats on any core count), then restore the setting."""
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def _file(name: str) -> str:
    return name.replace(" ", "_") + ".pt"


def build_seeing(out: Path, cfg: CaptionerConfig | None = None) -> None:
    """Steps 1 and 2: the frame CNN, then each variant's mixer and slot heads on its frozen
    features. Saves each variant's encoder + mapper, and see.json (losses, validation and test
    slot accuracy)."""
    cfg = cfg or CaptionerConfig()

    def work():
        start = time.process_time()
        lm, tokenizer, clips, captions = _prepare(cfg, ("train", "validation", "test"))
        talker = PromptedLM(lm, tokenizer)
        targets = {split: slot_targets(c) for split, c in captions.items()}
        # step 1: the whole temporal encoder learns to see
        # steps 1-2 run on the CPU, mapper included (the LM only lends its word embeddings)
        encoder, mapper = new_encoder(cfg, temporal=True), new_mapper(talker, cfg).cpu()
        see_loss = train_slots(encoder, mapper, clips_to_tensor(clips["train"]), targets["train"], cfg.see_steps, cfg,
                               frames_frozen=False, desc="step 1 (see)")
        frame_cnn = encoder.frame.state_dict()
        features = {split: frame_features(encoder, c) for split, c in clips.items()}    # (N, T, d), frozen from here
        report = {"see_loss": see_loss, "variants": {}}
        for name, temporal in VARIANTS.items():  # step 2: same recipe, same budget; only the pooling differs
            encoder, mapper = new_encoder(cfg, temporal), new_mapper(talker, cfg).cpu()
            encoder.frame.load_state_dict(frame_cnn)
            losses = train_slots(encoder, mapper, features["train"], targets["train"], cfg.mix_steps, cfg,
                                 frames_frozen=True, desc=f"step 2 ({name})")
            encoder.eval()
            with torch.no_grad():
                accuracy = {split: slot_accuracy(mapper.logits(encoder.combine(features[split])), targets[split])
                            for split in ("validation", "test")}
            torch.save({"encoder": encoder.state_dict(), "mapper": mapper.state_dict()}, out / _file(name))
            report["variants"][name] = {"mix_loss": losses, "slot_accuracy": accuracy}
        report["cpu_seconds"] = time.process_time() - start
        (out / "see.json").write_text(json.dumps(report, indent=1))

    _single_thread(work)


def _load_variant(path: Path, talker: PromptedLM, cfg: CaptionerConfig, temporal: bool):
    state = torch.load(path, weights_only=True, map_location="cpu")
    encoder, mapper = new_encoder(cfg, temporal), new_mapper(talker, cfg)
    encoder.load_state_dict(state["encoder"])
    mapper.load_state_dict(state["mapper"])
    return encoder.eval(), mapper.eval()


def build(out: Path, cfg: CaptionerConfig | None = None) -> None:
    """Step 3 for both variants, from the cached steps 1-2: fine-tune the slot heads through the
    frozen LM (if `cfg.steps`), then let the LM write the test captions, from the encoder's slots and
    (its ceiling) from the true words. Saves each encoder + mapper, and run.json."""
    cfg = cfg or CaptionerConfig()
    seeing = seeing_dir(cfg)

    def work():
        start = time.process_time()
        lm, tokenizer, clips, captions = _prepare(cfg, ("train", "validation", "test"))
        talker = PromptedLM(lm, tokenizer)
        see = json.loads((seeing / "see.json").read_text())
        report = {"config": asdict(cfg), "see_cpu_seconds": see["cpu_seconds"], "see_loss": see["see_loss"],
                  "variants": {}}
        for name, temporal in VARIANTS.items():
            encoder, mapper = _load_variant(seeing / _file(name), talker, cfg, temporal)
            features = {split: frame_features(encoder, c) for split, c in clips.items()}
            val_loss = [validation_loss(talker, encoder, mapper, features["validation"], captions["validation"], cfg)]
            lm_loss = train_through_lm(talker, encoder, mapper, features["train"], captions["train"], cfg) if cfg.steps else []
            val_loss.append(validation_loss(talker, encoder, mapper, features["validation"], captions["validation"], cfg))
            with torch.no_grad():
                prefix, logits = mapper.eval()(encoder.eval().combine(features["test"]).to(talker.device))
                written = talker.generate(prefix, cfg.max_new_tokens, cfg.gen_precision)
            torch.save({"encoder": encoder.state_dict(), "mapper": mapper.state_dict()}, out / _file(name))
            report["variants"][name] = {**see["variants"][name], "lm_loss": lm_loss, "lm_val_loss": val_loss,
                                        "test_captions": written, "test_words": predicted_words(logits)}
        # the LM's ceiling: the true words of the first test clips, as hard word embeddings in the slots
        true_words = slot_targets(captions["test"][:CEILING_CLIPS])                      # (n, K)
        report["true_words_test_captions"] = talker.generate(words_prefix(talker, true_words), cfg.max_new_tokens,
                                                             cfg.gen_precision)
        report["cpu_seconds"] = time.process_time() - start
        (out / "run.json").write_text(json.dumps(report, indent=1))

    _single_thread(work)


def _recipe(cfg: CaptionerConfig, fields) -> str:
    from ..data.videos import _moving_shapes_recipe
    from ..profile import active_profile

    config = {k: v for k, v in asdict(cfg).items() if fields is None or k in fields}
    prompt = [SYSTEM, SHOTS, BETWEEN] if fields is None else None  # steps 1-2 do not read the prompt
    key = json.dumps({"config": config, "clips": _moving_shapes_recipe(), "profile": active_profile().name,
                      "prompt": prompt}, sort_keys=True)
    version = "v5" if fields is not None else "v6"  # bumped when the code changes what a build writes
    return f"video captioner {version} sha256 " + hashlib.sha256(key.encode()).hexdigest()[:16]


def recipe(cfg: CaptionerConfig | None = None) -> str:
    """Changes whenever the run would: the config, the clips, the prompt and the profile (its base LM)."""
    return _recipe(cfg or CaptionerConfig(), None)


def seeing_recipe(cfg: CaptionerConfig | None = None) -> str:
    return _recipe(cfg or CaptionerConfig(), SEE_FIELDS)


def cache_name(cfg: CaptionerConfig) -> str:
    return "video_captioner_" + (cfg.lm or "smollm2").replace("/", "_").lower()


def seeing_dir(cfg: CaptionerConfig | None = None) -> Path:
    """The cached steps 1-2 (built on first use; `journey assets` builds the tiny one ahead)."""
    cfg = cfg or CaptionerConfig()
    return build_once(cache_name(cfg) + "_stage1", lambda out: build_seeing(out, cfg), seeing_recipe(cfg))


def run_dir(cfg: CaptionerConfig | None = None) -> Path:
    """The cached run's folder (trained on first use; `journey assets` builds the tiny one ahead)."""
    cfg = cfg or CaptionerConfig()
    return build_once(cache_name(cfg), lambda out: build(out, cfg), recipe(cfg))


def load_run(cfg: CaptionerConfig | None = None) -> dict:
    return json.loads((run_dir(cfg) / "run.json").read_text())


def load_variant(variant: str, talker: PromptedLM, cfg: CaptionerConfig | None = None):
    """(encoder, mapper) of the cached run ("temporal" or "bag of frames"), ready to use."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)}")
    cfg = cfg or CaptionerConfig()
    return _load_variant(run_dir(cfg) / _file(variant), talker, cfg, VARIANTS[variant])


STAGE1 = register_derived(cache_name(CaptionerConfig()) + "_stage1", "steps 1-2 of notebook 11/08: clip encoders "
                          "(temporal, bag of frames) and their word-slot heads, trained to name the caption's "
                          "content words (shared.train.video_captioner)",
                          lambda out: build_seeing(out, CaptionerConfig()), seeing_recipe)
ASSET = register_derived(cache_name(CaptionerConfig()), "clip encoders (temporal and bag of frames) that prompt the frozen "
                         "SmolLM2-135M to caption the moving-shapes clips, and their captions (shared.train.video_captioner)",
                         lambda out: build(out, CaptionerConfig()), recipe)
