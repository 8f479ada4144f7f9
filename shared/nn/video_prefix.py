"""A clip encoder that turns frames into a *visual prefix* for a frozen language model (ClipCap).

    encoder = ClipPrefixEncoder(lm_dim=576, prefix_len=4, temporal=True)
    prefix = encoder(clips)            # (B, T, 3, H, W) floats in [0, 1] -> (B, prefix_len, lm_dim)
    lm(inputs_embeds=torch.cat([prefix, lm.get_input_embeddings()(caption_ids)], dim=1))

The language model never changes; the encoder learns through the LM's loss on the caption (Mokady
et al., 2021, "ClipCap", with a frozen GPT-2). Three steps:

1. a small CNN reads each frame on its own                   (B*T, 3, H, W) -> (B, T, d)
2. one transformer layer lets the frames attend to each other (B, T, d)     -> (B, T, d),
   then their mean summarises the clip                        (B, T, d)     -> (B, d)
3. a linear map writes `prefix_len` vectors in the LM's embedding space (B, d) -> (B, prefix_len, lm_dim)

`temporal=True` adds a learned embedding of each frame's position in time before step 2. Without
it (`temporal=False`, the *bag of frames* ablation) self-attention and the mean are blind to frame
order: shuffle the frames (or play the clip backwards) and the prefix is the same.

`TinyCaptionDecoder` is a small GRU that writes a caption word by word from the clip features of
steps 1-2: training it (cheap, no LM) teaches the encoder to see, before the LM stage.
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


class ClipPrefixEncoder(nn.Module):
    def __init__(self, lm_dim: int, prefix_len: int = 4, n_frames: int = 8, size: int = 32, dim: int = 128,
                 heads: int = 4, temporal: bool = True):
        super().__init__()
        self.prefix_len, self.lm_dim, self.temporal = prefix_len, lm_dim, temporal
        self.frame = FrameCNN(size, dim)
        self.time = nn.Parameter(torch.randn(n_frames, dim) * 0.02) if temporal else None  # (T, d)
        self.mix = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True)
        self.to_prefix = nn.Linear(dim, prefix_len * lm_dim)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        B, T = clips.shape[:2]                                 # clips: (B, T, 3, H, W)
        h = self.frame(clips.flatten(0, 1)).view(B, T, -1)     # (B, T, d): each frame alone
        return self.combine(h)

    def combine(self, h: torch.Tensor) -> torch.Tensor:
        """Per-frame features (B, T, d) -> one clip vector (B, d)."""
        T = h.shape[1]
        if self.temporal:
            h = h + self.time[:T]                              # (B, T, d): now each frame knows when it is
        return self.mix(h).mean(dim=1)                         # (B, d): frames attend to each other, then average

    def prefix_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.to_prefix(features).view(len(features), self.prefix_len, self.lm_dim)  # (B, P, lm_dim)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.prefix_from_features(self.features(clips))  # (B, T, 3, H, W) -> (B, P, lm_dim)


class TinyCaptionDecoder(nn.Module):
    """A one-layer GRU over a small word vocabulary, started from the clip features (B, d)."""

    def __init__(self, vocab_size: int, dim: int = 128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.see = nn.Linear(dim, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.out = nn.Linear(dim, vocab_size)

    def forward(self, features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ids (B, L) are the inputs (start token first); returns logits (B, L, V).
        The clip features are added to every input word, so each word choice can look at the clip."""
        inputs = self.embed(ids) + self.see(features).unsqueeze(1)   # (B, L, d)
        out, _ = self.gru(inputs)                                    # (B, L, d)
        return self.out(out)


def clips_to_tensor(clips) -> torch.Tensor:
    """uint8 frames (B, T, H, W, 3) (numpy or torch) -> floats (B, T, 3, H, W) in [0, 1]."""
    clips = torch.as_tensor(clips)
    if clips.dtype != torch.uint8 or clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected uint8 clips (B, T, H, W, 3), got {tuple(clips.shape)} {clips.dtype}")
    return clips.permute(0, 1, 4, 2, 3).float() / 255.0
