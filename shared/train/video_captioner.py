"""Train a clip encoder so that a frozen SmolLM2 writes the clip's caption (ClipCap style), and the
cached run of notebook 11/08: the temporal encoder and its bag-of-frames ablation.

    lm, tokenizer = load_causal_lm(); freeze(lm)
    encoder = ClipPrefixEncoder(lm.config.hidden_size, temporal=True)
    loss = caption_loss(lm, tokenizer, encoder(clips), captions)   # grads reach the encoder only
    captions = generate_captions(lm, tokenizer, encoder(clips))    # greedy, stops at end-of-text
    run = load_run()                                               # the cached run (built once)

Only the encoder (about 0.9M parameters) learns; the gradient still flows back through all 30
layers of the frozen LM to reach the prefix, and that backward pass is most of the cost.
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
from ..nn.video_prefix import ClipPrefixEncoder, TinyCaptionDecoder, clips_to_tensor

VARIANTS = {"temporal": True, "bag of frames": False}  # name -> ClipPrefixEncoder(temporal=...)


@dataclass
class CaptionerConfig:
    """One training recipe; the defaults are the tiny profile's cached run."""
    lm: str | None = None       # the frozen LM; None: the profile's causal LM (tiny: SmolLM2-135M-Instruct)
    n_frames: int = 8           # frames sampled per clip
    size: int = 32              # pixels per side after resizing
    prefix_len: int = 4         # visual vectors given to the LM
    dim: int = 128              # width of the clip features
    see_steps: int = 1_000      # stage 1 (no LM): steps of the encoder + tiny GRU captioner
    see_batch_size: int = 32    # clips per stage-1 step
    see_lr: float = 3e-3        # stage-1 AdamW learning rate (constant)
    steps: int = 40             # stage 2: steps through the frozen LM, per variant
    batch_size: int = 32        # clips per stage-2 step
    lr: float = 3e-3            # stage-2 AdamW peak learning rate of the prefix map (warmup, then linear decay to 0)
    warmup: int = 5             # stage-2 warmup steps
    eval_every: int = 10        # stage 2: validation loss (teacher forced) every this many steps; the best is kept
    max_new_tokens: int = 20    # generation budget (a caption is at most 16 tokens)
    precision: str = "bf16"     # LM forward/backward under bfloat16 autocast ("fp32" to turn off)
    seed: int = 0


def freeze(lm) -> None:
    lm.eval()
    lm.requires_grad_(False)


def _autocast(precision: str):
    return torch.autocast("cpu" if not torch.cuda.is_available() else "cuda", dtype=torch.bfloat16,
                          enabled=precision == "bf16")


def caption_batch(tokenizer, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (B, L) of each caption + end-of-text, right-padded; labels the same, -100 on padding."""
    rows = [tokenizer(c, add_special_tokens=False).input_ids + [tokenizer.eos_token_id] for c in captions]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tokenizer.eos_token_id)
    labels = torch.full((len(rows), width), -100)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        labels[i, :len(row)] = torch.tensor(row)
    return ids, labels


def caption_loss(lm, tokenizer, prefix: torch.Tensor, captions: list[str], precision: str = "bf16") -> torch.Tensor:
    """Mean cross-entropy of the caption tokens given the visual prefix (B, P, D) (teacher forcing)."""
    ids, labels = caption_batch(tokenizer, captions)                           # (B, L)
    inputs = torch.cat([prefix, lm.get_input_embeddings()(ids)], dim=1)        # (B, P + L, D)
    with _autocast(precision):
        # position P-1 (the last prefix vector) predicts caption token 0, ..., P+L-2 predicts token L-1
        logits = lm(inputs_embeds=inputs, logits_to_keep=ids.shape[1] + 1).logits[:, :-1]  # (B, L, V)
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)


@torch.no_grad()
def generate_captions(lm, tokenizer, prefix: torch.Tensor, max_new_tokens: int = 20, precision: str = "bf16") -> list[str]:
    """Greedy captions for a batch of visual prefixes (B, P, D): the LM continues from the prefix alone."""
    mask = torch.ones(prefix.shape[:2], dtype=torch.long)
    with _autocast(precision):
        ids = lm.generate(inputs_embeds=prefix, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    return [text.strip() for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]


def load_clips(rows: list[dict], n_frames: int, size: int) -> np.ndarray:
    """(N, T, size, size, 3) uint8: `n_frames` frames of each row's video, read from the file."""
    from ..vision.video import sample_frames

    return np.stack([sample_frames(row["video"], n_frames, size) for row in rows])


def lr_at(step: int, cfg: CaptionerConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.lr * max(0.0, (cfg.steps - step) / (cfg.steps - cfg.warmup))


# --- stage 1: learn to see, with a tiny GRU captioner (no LM, cheap) ---------------------------

def caption_words(caption: str) -> list[str]:
    """"a red circle moves left, then ..." -> ["a", "red", "circle", "moves", "left", ",", "then", ...]"""
    return caption.replace(",", " ,").split()


class WordVocab:
    """The words of the training captions, plus <s> (start) and </s> (end)."""

    def __init__(self, captions: list[str]):
        self.words = ["<s>", "</s>"] + sorted({w for c in captions for w in caption_words(c)})
        self.index = {w: i for i, w in enumerate(self.words)}

    def encode(self, captions: list[str]) -> torch.Tensor:
        """(B, L + 1) ids of "<s> words... </s>", padded with </s> (the loss ignores what follows it)."""
        rows = [[0] + [self.index[w] for w in caption_words(c)] + [1] for c in captions]
        width = max(map(len, rows))
        return torch.tensor([row + [1] * (width - len(row)) for row in rows])

    def decode(self, ids: list[int]) -> str:
        words = []
        for i in ids:
            if i == 1:
                break
            words.append(self.words[i])
        return " ".join(words).replace(" ,", ",")


def gru_loss(decoder: TinyCaptionDecoder, features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the next word; positions after the first </s> do not count."""
    logits = decoder(features, ids[:, :-1])                                   # (B, L, V)
    targets = ids[:, 1:].clone()                                              # (B, L)
    after_end = (targets == 1).cumsum(dim=1) > 1                              # the padding after </s>
    targets[after_end] = -100
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


@torch.no_grad()
def gru_captions(decoder: TinyCaptionDecoder, vocab: WordVocab, features: torch.Tensor, max_len: int = 16) -> list[str]:
    """Greedy captions of the tiny GRU captioner."""
    ids = torch.zeros(len(features), 1, dtype=torch.long)                     # (B, 1): <s>
    for _ in range(max_len):
        next_id = decoder(features, ids)[:, -1].argmax(-1, keepdim=True)     # (B, 1)
        ids = torch.cat([ids, next_id], dim=1)
    return [vocab.decode(row[1:]) for row in ids.tolist()]


def learn_to_see(encoder: ClipPrefixEncoder, clips: np.ndarray, captions: list[str], cfg: CaptionerConfig,
                 train_frames: bool = True, progress: bool = True) -> tuple[TinyCaptionDecoder, WordVocab, list[float]]:
    """Stage 1: train the encoder's clip features with a tiny GRU captioner (no LM). With
    `train_frames=False` the frame CNN stays as it is (its features are computed once) and only the
    way frames are combined learns. Returns the decoder, its vocabulary and the loss per step."""
    from tqdm.auto import tqdm

    vocab = WordVocab(captions)
    decoder = TinyCaptionDecoder(len(vocab.words), cfg.dim)
    generator = torch.Generator().manual_seed(cfg.seed)
    if train_frames:
        params = [p for name, p in encoder.named_parameters() if not name.startswith("to_prefix")]
    else:
        encoder.frame.eval().requires_grad_(False)
        with torch.no_grad():
            frame_features = torch.cat([encoder.frame(clips_to_tensor(clips[i:i + 250]).flatten(0, 1))
                                        for i in range(0, len(clips), 250)]).view(len(clips), clips.shape[1], -1)
        params = [p for name, p in encoder.named_parameters() if name.startswith(("mix", "time"))]
    optimizer = torch.optim.AdamW(params + list(decoder.parameters()), lr=cfg.see_lr, weight_decay=0.0)
    losses = []
    for _ in tqdm(range(cfg.see_steps), disable=not progress, desc="stage 1 (see)"):
        batch = torch.randint(len(clips), (cfg.see_batch_size,), generator=generator).numpy()
        if train_frames:
            features = encoder.features(clips_to_tensor(clips[batch]))        # (B, d)
        else:
            features = encoder.combine(frame_features[batch])                 # (B, d)
        loss = gru_loss(decoder, features, vocab.encode([captions[i] for i in batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return decoder.eval(), vocab, losses


# --- stage 2: learn to talk to the frozen LM (ClipCap) ------------------------------------------

def train_prefix(lm, tokenizer, encoder, train_clips, train_captions, val_clips, val_captions, cfg: CaptionerConfig,
                 progress: bool = True) -> dict:
    """Stage 2: train the prefix map (`to_prefix`) through the frozen LM; the features from stage 1
    stay fixed. Keeps the weights of the best validation loss. Returns the log."""
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(cfg.seed + 1)
    optimizer = torch.optim.AdamW(encoder.to_prefix.parameters(), lr=cfg.lr, weight_decay=0.0)
    with torch.no_grad():  # the features are fixed in this stage: compute them once
        train_features = encoder.features(clips_to_tensor(train_clips))      # (N, d)
        val_features = encoder.features(clips_to_tensor(val_clips))

    prefix_of = encoder.prefix_from_features  # (B, d) -> (B, P, lm_dim)

    log = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    best = (float("inf"), None, -1)

    def validate(step):
        nonlocal best
        with torch.no_grad():
            loss = caption_loss(lm, tokenizer, prefix_of(val_features), val_captions, cfg.precision).item()
        log["val_step"].append(step)
        log["val_loss"].append(loss)
        if loss < best[0]:
            best = (loss, {k: v.detach().clone() for k, v in encoder.state_dict().items()}, step)

    validate(0)
    for step in tqdm(range(cfg.steps), disable=not progress, desc="stage 2 (talk)"):
        batch = torch.randint(len(train_clips), (cfg.batch_size,), generator=generator)
        loss = caption_loss(lm, tokenizer, prefix_of(train_features[batch]), [train_captions[i] for i in batch],
                            cfg.precision)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log["step"].append(step + 1)
        log["train_loss"].append(loss.item())
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            validate(step + 1)
    encoder.load_state_dict(best[1])
    log["best_step"] = best[2]
    return log


def new_encoder(lm_dim: int, cfg: CaptionerConfig, temporal: bool) -> ClipPrefixEncoder:
    torch.manual_seed(cfg.seed)  # both variants start from the same CNN and the same prefix map
    return ClipPrefixEncoder(lm_dim, cfg.prefix_len, cfg.n_frames, cfg.size, cfg.dim, temporal=temporal)


SEE_FIELDS = ("lm", "n_frames", "size", "dim", "prefix_len", "see_steps", "see_batch_size", "see_lr", "seed")  # what stage 1 depends on


def _prepare(cfg: CaptionerConfig, splits: tuple[str, ...]):
    from ..data.videos import moving_shapes
    from ..models import load_causal_lm

    lm, tokenizer = load_causal_lm(cfg.lm, dtype=torch.float32)
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


def build_seeing(out: Path, cfg: CaptionerConfig | None = None) -> None:
    """Stage 1 for both variants: the bag of frames reuses the temporal variant's frame CNN (the
    same eyes; only how frames are combined differs, and that is trained from scratch). Saves each
    encoder and see.json: the losses and the tiny GRU's captions of the test clips."""
    cfg = cfg or CaptionerConfig()

    def work():
        start = time.process_time()
        lm, _, clips, captions = _prepare(cfg, ("train", "test"))
        report, frame_cnn = {"variants": {}}, None
        for name, temporal in VARIANTS.items():
            encoder = new_encoder(lm.config.hidden_size, cfg, temporal)
            if frame_cnn is not None:
                encoder.frame.load_state_dict(frame_cnn)
            decoder, vocab, losses = learn_to_see(encoder, clips["train"], captions["train"], cfg,
                                                  train_frames=frame_cnn is None)
            frame_cnn = encoder.frame.state_dict()
            encoder.eval()
            with torch.no_grad():
                written = gru_captions(decoder, vocab, encoder.features(clips_to_tensor(clips["test"])))
            torch.save(encoder.state_dict(), out / f"{name.replace(' ', '_')}.pt")
            report["variants"][name] = {"see_loss": losses, "gru_test_captions": written}
        report["cpu_seconds"] = time.process_time() - start
        (out / "see.json").write_text(json.dumps(report, indent=1))

    _single_thread(work)


def build(out: Path, cfg: CaptionerConfig | None = None) -> None:
    """Stage 2 for both variants, from the cached stage 1: train the slot map and the soft prompt
    through the frozen LM. Saves each encoder, and run.json: both stages' logs and the captions the
    LM and the tiny GRU write for the test clips."""
    cfg = cfg or CaptionerConfig()
    seeing = seeing_dir(cfg)

    def work():
        start = time.process_time()
        lm, tokenizer, clips, captions = _prepare(cfg, ("train", "validation", "test"))
        see = json.loads((seeing / "see.json").read_text())
        report = {"config": asdict(cfg), "see_cpu_seconds": see["cpu_seconds"], "variants": {}}
        for name, temporal in VARIANTS.items():
            state = torch.load(seeing / f"{name.replace(' ', '_')}.pt", weights_only=True)
            encoder = new_encoder(lm.config.hidden_size, cfg, temporal)
            encoder.load_state_dict(state)
            encoder.eval().requires_grad_(False)
            encoder.to_prefix.requires_grad_(True)
            log = train_prefix(lm, tokenizer, encoder, clips["train"], captions["train"], clips["validation"],
                               captions["validation"], cfg)
            log["see_loss"] = see["variants"][name]["see_loss"]
            with torch.no_grad():
                written = generate_captions(lm, tokenizer, encoder(clips_to_tensor(clips["test"])), cfg.max_new_tokens,
                                            cfg.precision)
            torch.save(encoder.state_dict(), out / f"{name.replace(' ', '_')}.pt")
            report["variants"][name] = {"log": log, "test_captions": written,
                                        "gru_test_captions": see["variants"][name]["gru_test_captions"]}
        report["cpu_seconds"] = time.process_time() - start
        (out / "run.json").write_text(json.dumps(report, indent=1))

    _single_thread(work)


def _recipe(cfg: CaptionerConfig, fields) -> str:
    from ..data.videos import _moving_shapes_recipe
    from ..profile import active_profile

    config = {k: v for k, v in asdict(cfg).items() if fields is None or k in fields}
    key = json.dumps({"config": config, "clips": _moving_shapes_recipe(), "profile": active_profile().name}, sort_keys=True)
    return "video captioner v3 sha256 " + hashlib.sha256(key.encode()).hexdigest()[:16]


def recipe(cfg: CaptionerConfig | None = None) -> str:
    """Changes whenever the run would: the config, the clips, and the profile (its base LM)."""
    return _recipe(cfg or CaptionerConfig(), None)


def seeing_recipe(cfg: CaptionerConfig | None = None) -> str:
    return _recipe(cfg or CaptionerConfig(), SEE_FIELDS)


def cache_name(cfg: CaptionerConfig) -> str:
    return "video_captioner_" + (cfg.lm or "smollm2").replace("/", "_").lower()


def seeing_dir(cfg: CaptionerConfig | None = None) -> Path:
    """The cached stage 1 (built on first use; `journey assets` builds the tiny one ahead)."""
    cfg = cfg or CaptionerConfig()
    return build_once(cache_name(cfg) + "_stage1", lambda out: build_seeing(out, cfg), seeing_recipe(cfg))


def run_dir(cfg: CaptionerConfig | None = None) -> Path:
    """The cached run's folder (trained on first use; `journey assets` builds the tiny one ahead)."""
    cfg = cfg or CaptionerConfig()
    return build_once(cache_name(cfg), lambda out: build(out, cfg), recipe(cfg))


def load_run(cfg: CaptionerConfig | None = None) -> dict:
    return json.loads((run_dir(cfg) / "run.json").read_text())


def load_encoder(variant: str, cfg: CaptionerConfig | None = None) -> ClipPrefixEncoder:
    """A trained encoder of the cached run ("temporal" or "bag of frames"), ready to use."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)}")
    cfg = cfg or CaptionerConfig()
    state = torch.load(run_dir(cfg) / f"{variant.replace(' ', '_')}.pt", weights_only=True)
    encoder = new_encoder(state["to_prefix.weight"].shape[0] // cfg.prefix_len, cfg, VARIANTS[variant])
    encoder.load_state_dict(state)
    return encoder.eval()


STAGE1 = register_derived(cache_name(CaptionerConfig()) + "_stage1", "stage 1 of notebook 11/08: clip encoders "
                          "(temporal, bag of frames) trained with a tiny GRU captioner (shared.train.video_captioner)",
                          lambda out: build_seeing(out, CaptionerConfig()), seeing_recipe)
ASSET = register_derived(cache_name(CaptionerConfig()), "clip encoders (temporal and bag of frames) that prompt the frozen SmolLM2-135M "
                         "to caption the moving-shapes clips, and their captions (shared.train.video_captioner)",
                         lambda out: build(out, CaptionerConfig()), recipe)
