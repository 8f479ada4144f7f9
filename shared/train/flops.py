"""FLOPs of a transformer, derived from its configuration, and a counter to check the formula.

    shape = shape_from_hf(GPT2Config())                 # or TransformerShape(...) by hand
    forward_flops_per_token(shape, context=1024)        # {"attention projections": ..., "mlp": ...}
    3 * forward_flops(shape, context=1024)              # training FLOPs per token (fwd + bwd)
    count_flops(lambda: model(idx))                      # what torch actually multiplies

Conventions (Kaplan et al. 2020, sec. 2.1; Hoffmann et al. 2022, app. F):
- a multiply-accumulate is 2 FLOPs, so a (m x k) @ (k x n) matmul costs 2 m k n;
- only matrix multiplications are counted: layer norms, softmax, activations, biases and
  embedding look-ups are O(d_model) per token, well under 1% of the total for real models
  (and `torch.utils.flop_counter.FlopCounterMode` does not count them either);
- attention scores are counted over the full context, as dense kernels compute them: a causal
  kernel that skips the masked half does about half of that term;
- backward costs about twice the forward (a gradient for the input and one for the weight of
  every matmul), so training costs about 3x forward: 6 FLOPs per parameter per token.
"""
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


@dataclass(frozen=True)
class TransformerShape:
    """The numbers that fix the cost of one stack of transformer blocks."""
    n_layer: int                   # blocks
    d_model: int                   # width of the residual stream
    n_head: int                    # query heads
    d_ff: int                      # hidden width of the MLP
    vocab_size: int                # rows of the token embedding
    n_kv_head: int | None = None   # key/value heads (grouped-query attention); None: n_head
    d_head: int | None = None      # width of one head; None: d_model // n_head
    gated_mlp: bool = False        # SwiGLU / GeGLU: gate, up and down matrices (3, not 2)
    lm_head: bool = True           # a d_model -> vocab projection on every token
    cross_attention: bool = False  # decoder of an encoder-decoder: also attends to the encoder
    tied_embeddings: bool = True   # the LM head reuses the token embedding (parameters only)
    n_positions: int = 0           # learned position embeddings (GPT-2, BERT): parameters, no FLOPs

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def head_dim(self) -> int:
        return self.d_head or self.d_model // self.n_head


def _attention_matrices(s: TransformerShape) -> int:
    """Weights of one attention: Q and O are d_model x (heads * head_dim), K and V use kv_heads."""
    return 2 * s.d_model * s.n_head * s.head_dim + 2 * s.d_model * s.kv_heads * s.head_dim


def _mlp_matrices(s: TransformerShape) -> int:
    return (3 if s.gated_mlp else 2) * s.d_model * s.d_ff


def parameter_count(s: TransformerShape) -> dict[str, int]:
    """Weights by part (biases and norm gains left out: < 0.1% for real models)."""
    per_layer = _attention_matrices(s) * (2 if s.cross_attention else 1) + _mlp_matrices(s)
    return {
        "embeddings": s.vocab_size * s.d_model + s.n_positions * s.d_model,
        "blocks": s.n_layer * per_layer,
        "lm head": s.vocab_size * s.d_model if s.lm_head and not s.tied_embeddings else 0,
    }


def forward_flops_per_token(s: TransformerShape, context: int, memory: int = 0) -> dict[str, float]:
    """Forward FLOPs for one token that attends to `context` tokens (and to `memory` encoder
    outputs in a decoder with cross-attention), by part."""
    attention_width = s.n_head * s.head_dim
    parts = {
        "attention projections": 2 * s.n_layer * _attention_matrices(s),       # q, k, v, o
        "attention scores": 2 * s.n_layer * 2 * attention_width * context,     # q @ k^T and weights @ v
        "mlp": 2 * s.n_layer * _mlp_matrices(s),
        "lm head": 2 * s.d_model * s.vocab_size if s.lm_head else 0,
    }
    if s.cross_attention:
        # q and o per decoder token; k and v of the encoder outputs are in encoder_decoder_forward_flops
        parts["cross-attention"] = 2 * s.n_layer * (2 * s.d_model * attention_width + 2 * attention_width * memory)
    return parts


def forward_flops(s: TransformerShape, context: int, memory: int = 0) -> float:
    """Total forward FLOPs per token."""
    return sum(forward_flops_per_token(s, context, memory).values())


def encoder_decoder_forward_flops(encoder: TransformerShape, decoder: TransformerShape,
                                  source_len: int, target_len: int) -> float:
    """Forward FLOPs of one (source, target) pair through an encoder-decoder such as T5."""
    cross_kv = 2 * decoder.n_layer * 2 * decoder.d_model * decoder.kv_heads * decoder.head_dim  # per source token
    return (source_len * (forward_flops(encoder, source_len) + cross_kv)
            + target_len * forward_flops(decoder, target_len, memory=source_len))


def encoder_decoder_parameters(encoder: TransformerShape, decoder: TransformerShape) -> int:
    """Weights of an encoder-decoder whose two stacks share one token embedding (T5)."""
    shared_embedding = encoder.vocab_size * encoder.d_model
    return sum(parameter_count(encoder).values()) + sum(parameter_count(decoder).values()) - shared_embedding


def training_flops(n_params: float, n_tokens: float) -> float:
    """The 6ND rule: 2 FLOPs per parameter per token forward, 4 backward."""
    return 6 * n_params * n_tokens


def shape_from_hf(config, stack: str = "decoder") -> TransformerShape:
    """A transformers config (GPT-2, BERT, Llama-style, T5) as a TransformerShape.

    For T5 pick the `stack`: "encoder" or "decoder" (which has cross-attention and the LM head).
    """
    kind = config.model_type
    if kind == "gpt2":
        return TransformerShape(config.n_layer, config.n_embd, config.n_head, config.n_inner or 4 * config.n_embd,
                                config.vocab_size, n_positions=config.n_positions)
    if kind == "bert":
        return TransformerShape(config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                                config.intermediate_size, config.vocab_size, lm_head=False,  # the encoder alone
                                n_positions=config.max_position_embeddings + config.type_vocab_size)  # + segment rows
    if kind in ("llama", "mistral", "qwen2"):
        return TransformerShape(config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                                config.intermediate_size, config.vocab_size, n_kv_head=config.num_key_value_heads,
                                d_head=getattr(config, "head_dim", None), gated_mlp=True,
                                tied_embeddings=config.tie_word_embeddings)
    if kind == "t5":
        decoder = stack == "decoder"
        return TransformerShape(config.num_decoder_layers if decoder else config.num_layers, config.d_model,
                                config.num_heads, config.d_ff, config.vocab_size, d_head=config.d_kv,
                                gated_mlp=config.is_gated_act, lm_head=decoder, cross_attention=decoder,
                                tied_embeddings=config.tie_word_embeddings)
    raise ValueError(f"no shape for model_type {kind!r}: build a TransformerShape by hand")


# torch's counter knows the CUDA attention kernels but not the fused CPU one that
# F.scaled_dot_product_attention picks on CPU: teach it, with the formulas torch uses on CUDA.
def _cpu_attention(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_attention_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


_CPU_ATTENTION = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward,
}


def count_flops(fn) -> int:
    """FLOPs that torch executes while running `fn()` (matmuls and attention kernels)."""
    with FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION) as counter:
        fn()
    return counter.get_total_flops()


# --- how long the full profile takes on a GPU ----------------------------------------------------

# Published dense peak throughput of the tensor cores, in TFLOP/s (NVIDIA data sheets): a T4 has
# no bfloat16 tensor cores, so it trains in float16; an A100 in bfloat16.
GPU_PEAK_TFLOPS = {"T4 (fp16)": 65.0, "A100 (bf16)": 312.0}
# Model FLOPs utilisation that a small model reaches in a plain PyTorch loop: well below the
# 40-50% of large, tuned runs (Chowdhery et al. 2022, table 3), since small matmuls, the optimizer
# step and data loading weigh more. A stated assumption, not a measurement.
TYPICAL_MFU = 0.25


def gpu_hours(flops: float, mfu: float = TYPICAL_MFU) -> dict[str, float]:
    """Hours that `flops` of model work take on each GPU of GPU_PEAK_TFLOPS at utilisation `mfu`."""
    return {gpu: flops / (peak * 1e12 * mfu) / 3600 for gpu, peak in GPU_PEAK_TFLOPS.items()}


def describe_gpu_time(flops: float, mfu: float = TYPICAL_MFU, overhead_minutes: float = 0.0,
                      profile: str = "full") -> str:
    """One line a notebook prints about a profile's training, e.g. "full profile: 1.2e16 FLOPs ->
    ≈ 52 min on a T4 (fp16), ≈ 11 min on an A100 (bf16), at 25% of peak (+ 5 min loading)";
    `profile` names the profile the FLOPs belong to (a notebook passes its active one)."""
    def minutes(hours):
        total = hours * 60 + overhead_minutes
        return "< 1 min" if total < 1 else f"≈ {total:,.0f} min"

    def article(gpu):
        return "an" if gpu[0] in "AEIOU" else "a"

    times = ", ".join(f"{minutes(h)} on {article(gpu)} {gpu}" for gpu, h in gpu_hours(flops, mfu).items())
    extra = f", including {overhead_minutes:.0f} min of downloads and evaluation" if overhead_minutes else ""
    return f"{profile} profile: {flops:.2g} FLOPs -> {times}, at {mfu:.0%} of peak{extra} (an estimate)"
