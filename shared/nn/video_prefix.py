"""A clip encoder that turns frames into a *visual prefix* for a frozen language model (ClipCap).

    encoder = ClipEncoder(temporal=True)                 # (B, T, 3, H, W) floats in [0, 1] -> (B, d)
    mapper = WordSlotMapper(d, slot_token_ids, lm.get_input_embeddings().weight)
    prefix, logits = mapper(encoder(clips))              # (B, K, lm_dim): K vectors in the LM's input space
    lm(inputs_embeds=torch.cat([prompt, prefix, rest], dim=1))

The language model never changes (Mokady et al., 2021, "ClipCap", with a frozen GPT-2). Three steps:

1. a small CNN reads each frame on its own                          (B*T, 3, H, W) -> (B, T, d)
2. the frames are combined into one clip vector                     (B, T, d)      -> (B, d)
   - temporal: the frame vectors are concatenated *in time order* and mixed by an MLP, so the
     model knows which frame came first;
   - bag of frames (the ablation): the frame vectors are averaged, then the same kind of MLP. The
     mean is blind to order: shuffle the frames (or play the clip backwards) and nothing changes.
3. the mapper writes K vectors in the LM's embedding space          (B, d)        -> (B, K, lm_dim)

The mapper is a ClipCap mapping network with one constraint that makes it cheap to train and easy
to read: prefix vector k is a softmax mixture of the LM's *own* input embeddings of the words that
may fill slot k (the colours, the shapes, the event words). Its norm and direction are those of
real word embeddings, so the frozen LM reads it as (a blend of) words from the first step, and its
mixing weights say which word the encoder means. A free linear map (the original ClipCap) has to
discover the LM's input space from scratch through the LM's loss: far more steps than a CPU has.
"""
import torch
from torch import nn


class FrameCNN(nn.Module):
    """Three conv blocks (batch norm, ReLU), then a linear map of the whole feature map, which keeps
    *where* things are."""

    def __init__(self, size: int = 32, dim: int = 128, channels: tuple[int, int, int] = (16, 32, 32)):
        super().__init__()
        c1, c2, c3 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(3, c1, 3, stride=2, padding=1), nn.BatchNorm2d(c1), nn.ReLU(),          # (N, c1, size/2, size/2)
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),  # (N, c2, size/4, size/4)
            nn.Conv2d(c2, c3, 3, padding=1), nn.BatchNorm2d(c3), nn.ReLU(),                   # (N, c3, size/4, size/4)
        )
        self.proj = nn.Linear(c3 * (size // 4) ** 2, dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (N, 3, size, size) -> (N, dim)
        return self.proj(self.conv(frames).flatten(1))


class ClipEncoder(nn.Module):
    """Frames -> one clip vector: a frame CNN, then a temporal (concatenate in order) or a bag of
    frames (mean) combination, each followed by a two-layer MLP of the same width."""

    def __init__(self, n_frames: int = 8, size: int = 32, dim: int = 128, temporal: bool = True):
        super().__init__()
        self.n_frames, self.temporal = n_frames, temporal
        self.frame = FrameCNN(size, dim)
        self.mix = nn.Sequential(nn.Linear(n_frames * dim if temporal else dim, 2 * dim), nn.ReLU(),
                                 nn.Linear(2 * dim, dim), nn.ReLU())

    def frame_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, T, d): each frame on its own."""
        B, T = clips.shape[:2]
        if T != self.n_frames:
            raise ValueError(f"the encoder was built for {self.n_frames} frames per clip, got {T}: "
                             f"sample clips with n_frames={self.n_frames}")
        return self.frame(clips.flatten(0, 1)).view(B, T, -1)

    def combine(self, h: torch.Tensor) -> torch.Tensor:
        """Per-frame features (B, T, d) -> one clip vector (B, d)."""
        pooled = h.flatten(1) if self.temporal else h.mean(dim=1)   # (B, T*d): in time order | (B, d): a bag
        return self.mix(pooled)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.combine(self.frame_features(clips))


class WordSlotMapper(nn.Module):
    """Clip vector (B, d) -> K prefix vectors (B, K, lm_dim), vector k a softmax mixture of the
    LM's input embeddings of the words allowed in slot k. `slot_token_ids[k]` lists those words'
    token ids; `embeddings` is the LM's (frozen) input embedding matrix (V, lm_dim)."""

    def __init__(self, dim: int, slot_token_ids: list[list[int]], embeddings: torch.Tensor):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(dim, len(ids)) for ids in slot_token_ids)
        # a learned vector added to each slot (zero at first): lets training through the LM move a
        # slot off the word simplex, towards what the LM reads best (prefix tuning of the slots)
        self.offset = nn.Parameter(torch.zeros(len(slot_token_ids), embeddings.shape[1]))
        # each slot's candidate word vectors, (n_k, lm_dim): a frozen copy, saved with the mapper
        for k, ids in enumerate(slot_token_ids):
            self.register_buffer(f"words_{k}", embeddings[torch.as_tensor(ids)].detach().clone())

    def logits(self, features: torch.Tensor) -> list[torch.Tensor]:
        """One (B, n_k) score vector per slot: which word the encoder means."""
        return [head(features) for head in self.heads]

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits = self.logits(features)
        prefix = torch.stack([scores.softmax(-1) @ getattr(self, f"words_{k}")            # (B, lm_dim)
                              for k, scores in enumerate(logits)], dim=1)                 # (B, K, lm_dim)
        return prefix + self.offset, logits


def clips_to_tensor(clips) -> torch.Tensor:
    """uint8 frames (B, T, H, W, 3) (numpy or torch) -> floats (B, T, 3, H, W) in [0, 1]."""
    clips = torch.as_tensor(clips)
    if clips.dtype != torch.uint8 or clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected uint8 clips (B, T, H, W, 3), got {tuple(clips.shape)} {clips.dtype}")
    return clips.permute(0, 1, 4, 2, 3).float() / 255.0
