"""Model parts written to be read, each tested against a reference implementation: attention,
LayerNorm/RMSNorm, the transformer encoder, the GPT, the Llama parts, the RNN LM, BERT-style
masking and the DDPM/DDIM diffusion schedule (against diffusers)."""
