"""shared.train.flops: the formulas against torch's FlopCounterMode and against real parameter counts."""
import pytest
import torch
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from shared.nn.gpt import GPT, GPTConfig
from shared.train.flops import (
    TransformerShape,
    count_flops,
    encoder_decoder_forward_flops,
    encoder_decoder_parameters,
    forward_flops,
    forward_flops_per_token,
    parameter_count,
    shape_from_hf,
    training_flops,
)

B, T, VOCAB = 2, 32, 128
SMALL = dict(vocab_size=VOCAB, bos_token_id=0, eos_token_id=0, pad_token_id=0)


def tokens(length=T, seed=0):
    return torch.randint(0, VOCAB, (B, length), generator=torch.Generator().manual_seed(seed))


def tiny_gpt2():
    config = GPT2Config(n_positions=64, n_embd=64, n_layer=2, n_head=4, attn_implementation="eager", **SMALL)
    return GPT2LMHeadModel(config)


def tiny_bert():
    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
                        attn_implementation="eager", **SMALL)
    return BertModel(config, add_pooling_layer=False)


def tiny_llama():  # grouped-query attention and a gated MLP
    config = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, **SMALL)
    return LlamaForCausalLM(config)


@pytest.mark.parametrize("build", [tiny_gpt2, tiny_bert, tiny_llama])
def test_forward_flops_match_flop_counter(build):
    model = build().eval()
    measured = count_flops(lambda: model(tokens()))
    assert measured == pytest.approx(B * T * forward_flops(shape_from_hf(model.config), context=T), rel=0.01)


def test_encoder_decoder_flops_match_flop_counter():
    config = T5Config(d_model=64, d_kv=16, d_ff=96, num_layers=2, num_decoder_layers=3, num_heads=4,
                      attn_implementation="eager", decoder_start_token_id=0, **SMALL)
    model = T5ForConditionalGeneration(config).eval()
    measured = count_flops(lambda: model(input_ids=tokens(), decoder_input_ids=tokens(12, seed=1)))
    encoder, decoder = shape_from_hf(config, "encoder"), shape_from_hf(config, "decoder")
    assert measured == pytest.approx(B * encoder_decoder_forward_flops(encoder, decoder, T, 12), rel=0.01)


def test_fused_cpu_attention_is_counted_and_training_is_about_three_forwards():
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=64, n_layer=2, n_head=4, n_embd=64))
    shape = TransformerShape(n_layer=2, d_model=64, n_head=4, d_ff=256, vocab_size=VOCAB)
    x = tokens()
    forward = count_flops(lambda: model(x))                    # F.scaled_dot_product_attention inside
    assert forward == pytest.approx(B * T * forward_flops(shape, context=T), rel=0.01)
    train = count_flops(lambda: model(x, targets=x)[1].backward())
    assert train / forward == pytest.approx(3.0, rel=0.05)


def test_attention_scores_grow_with_context_the_rest_does_not():
    shape = TransformerShape(n_layer=12, d_model=768, n_head=12, d_ff=3072, vocab_size=50257)
    short, long = forward_flops_per_token(shape, 1024), forward_flops_per_token(shape, 2048)
    assert long["attention scores"] == 2 * short["attention scores"]
    assert long["mlp"] == short["mlp"] and long["lm head"] == short["lm head"]


@pytest.mark.parametrize("config, published", [
    (GPT2Config(), 124_439_808),                                    # openai-community/gpt2
    (LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                 num_key_value_heads=3, head_dim=64, vocab_size=49152, tie_word_embeddings=True), 134_515_008),  # SmolLM2-135M
])
def test_parameter_count_of_real_configs(config, published):
    with torch.device("meta"):  # shapes only, no memory
        model = (GPT2LMHeadModel if config.model_type == "gpt2" else LlamaForCausalLM)(config)
    actual = sum(p.numel() for p in model.parameters())
    assert actual == published
    assert sum(parameter_count(shape_from_hf(config)).values()) == pytest.approx(actual, rel=0.002)


def test_t5_small_parameters_share_one_embedding():
    config = T5Config()  # t5-small: 60,506,624 parameters
    with torch.device("meta"):
        actual = sum(p.numel() for p in T5ForConditionalGeneration(config).parameters())
    formula = encoder_decoder_parameters(shape_from_hf(config, "encoder"), shape_from_hf(config, "decoder"))
    assert formula == pytest.approx(actual, rel=0.002)


def test_forward_is_about_two_flops_per_parameter_and_training_six():
    shape = TransformerShape(n_layer=12, d_model=768, n_head=12, d_ff=3072, vocab_size=50257)
    params = parameter_count(shape)
    matmul_params = params["blocks"] + shape.vocab_size * shape.d_model   # every weight used in a matmul
    per_token = forward_flops_per_token(shape, context=1024)
    assert per_token["attention projections"] + per_token["mlp"] + per_token["lm head"] == 2 * matmul_params
    assert training_flops(1e9, 1e9) == 6e18


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="by hand"):
        shape_from_hf(type("Config", (), {"model_type": "mamba"})())


def test_gpu_time_estimate_follows_peak_and_utilisation():
    from shared.train.flops import GPU_PEAK_TFLOPS, describe_gpu_time, gpu_hours

    hours = gpu_hours(65e12 * 3600 * 0.5, mfu=0.5)           # one hour of a T4 at half its peak
    assert hours["T4 (fp16)"] == pytest.approx(1.0)
    assert hours["A100 (bf16)"] == pytest.approx(65 / 312)
    assert set(hours) == set(GPU_PEAK_TFLOPS)
    line = describe_gpu_time(65e12 * 3600 * 0.25)            # one hour of a T4 at the typical 25%
    assert "≈ 60 min on a T4 (fp16)" in line and "on an A100" in line and "estimate" in line


def test_gpu_time_estimate_names_the_profile_and_rounds_small_runs():
    from shared.train.flops import describe_gpu_time

    line = describe_gpu_time(1e12, profile="tiny")               # a CPU-sized run: seconds on any GPU
    assert line.startswith("tiny profile: 1e+12 FLOPs")
    assert "< 1 min on a T4 (fp16)" in line and "< 1 min on an A100 (bf16)" in line
    assert describe_gpu_time(65e12 * 3600 * 0.25).startswith("full profile:")  # the default
    with_overhead = describe_gpu_time(65e12 * 3600 * 0.25, overhead_minutes=10)
    assert "≈ 70 min on a T4 (fp16)" in with_overhead and "including 10 min" in with_overhead
