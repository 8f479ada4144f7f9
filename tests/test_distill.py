"""The distillation losses of shared.train.distill against torch's own KL divergence and
cross-entropy on the same inputs (the reference formula of Hinton et al., 2015)."""
import pytest
import torch
import torch.nn.functional as F

from shared.train.distill import distillation_loss, fused_distillation_loss, topk_distillation_loss


def reference(student, teacher, targets, T, alpha):
    """The usual PyTorch recipe: kl_div(log q, p, batchmean) * T^2 mixed with cross-entropy."""
    s, t = student.flatten(0, -2), teacher.flatten(0, -2)
    kl = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    return alpha * T ** 2 * kl + (1 - alpha) * F.cross_entropy(s, targets.flatten())


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_distillation_loss_matches_kl_div(T, alpha):
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(3, 5, 50, generator=g, dtype=torch.float64), 3 * torch.randn(3, 5, 50, generator=g, dtype=torch.float64)
    targets = torch.randint(50, (3, 5), generator=g)
    ours = distillation_loss(student, teacher, targets, T, alpha)
    torch.testing.assert_close(ours.double(), reference(student.float(), teacher.float(), targets, T, alpha).double(),
                               rtol=1e-5, atol=1e-6)


def test_topk_equals_full_when_k_is_the_vocabulary():
    g = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(2, 7, 40, generator=g), 2 * torch.randn(2, 7, 40, generator=g)
    targets = torch.randint(40, (2, 7), generator=g)
    top = teacher.topk(40, dim=-1)
    torch.testing.assert_close(topk_distillation_loss(student, top.values, top.indices, targets, 2.0, 0.7),
                               distillation_loss(student, teacher, targets, 2.0, 0.7))


def test_topk_renormalises_the_teacher_and_ignores_padding():
    """With k < V: KL of the teacher renormalised over its top k against the student's full-vocabulary
    log-probabilities at those k tokens, by hand; positions with target -100 are not scored."""
    g = torch.Generator().manual_seed(2)
    student, teacher = torch.randn(4, 30, generator=g), torch.randn(4, 30, generator=g)
    targets = torch.tensor([3, -100, 7, 1])
    T, k = 3.0, 5
    top = teacher.topk(k, dim=-1)
    keep = targets != -100
    p = F.softmax(top.values[keep] / T, -1)
    log_q = F.log_softmax(student[keep] / T, -1).gather(-1, top.indices[keep])
    kl = (p * (p.log() - log_q)).sum(-1).mean()
    expected = 0.5 * T ** 2 * kl + 0.5 * F.cross_entropy(student[keep], targets[keep])
    torch.testing.assert_close(topk_distillation_loss(student, top.values, top.indices, targets, T, 0.5), expected)


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_fused_loss_has_the_loss_and_gradient_of_the_topk_loss(T, alpha):
    """The loss `train_student` trains with: the same value, cross-entropy and gradient as
    topk_distillation_loss; without teacher values, the same as F.cross_entropy."""
    g = torch.Generator().manual_seed(4)
    student = torch.randn(3, 5, 50, generator=g, dtype=torch.float64, requires_grad=True)
    top = (3 * torch.randn(3, 5, 50, generator=g)).topk(7, dim=-1)
    targets = torch.randint(50, (3, 5), generator=g)
    loss, ce = topk_distillation_loss(student, top.values.half(), top.indices.int(), targets, T, alpha, return_ce=True)
    (grad,) = torch.autograd.grad(2.5 * loss, student)
    fused, fused_ce = fused_distillation_loss(student, targets, top.values.half(), top.indices.int(), T, alpha)
    (fused_grad,) = torch.autograd.grad(2.5 * fused, student)
    torch.testing.assert_close((fused, fused_ce), (loss, ce))
    torch.testing.assert_close(fused_grad, grad)
    hard, hard_ce = fused_distillation_loss(student, targets)
    (hard_grad,) = torch.autograd.grad(hard, student)
    reference = F.cross_entropy(student.flatten(0, 1), targets.flatten())
    torch.testing.assert_close((hard.double(), hard_ce.double()), (reference, reference), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(hard_grad, torch.autograd.grad(reference, student)[0], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="ignore_index"):
        fused_distillation_loss(student, targets.masked_fill(targets == targets[0, 0], -100))


def test_gradient_of_the_soft_term_is_scaled_back_by_t_squared():
    """Hinton's T^2: for large T the soft gradient tends to (z_s - z_t) / V per logit (zero-mean
    logits), independent of T; without T^2 it would shrink as 1/T^2."""
    g = torch.Generator().manual_seed(3)
    V = 20
    student = torch.randn(1, V, generator=g, dtype=torch.float64)
    teacher = torch.randn(1, V, generator=g, dtype=torch.float64)
    student, teacher = student - student.mean(), teacher - teacher.mean()
    student.requires_grad_(True)
    distillation_loss(student, teacher, torch.tensor([0]), temperature=1000.0, alpha=1.0).backward()
    torch.testing.assert_close(student.grad, (student - teacher).detach() / V, rtol=1e-2, atol=1e-6)


class ByteTokenizer:
    """Enough of a Hugging Face tokenizer for both perplexity functions: text -> byte ids."""

    def __call__(self, text, return_tensors=None, truncation=False, max_length=None):
        ids = list(text.encode("utf-8"))[:max_length] if truncation else list(text.encode("utf-8"))
        return type("Encoding", (), {"input_ids": torch.tensor([ids]) if return_tensors == "pt" else ids})()


def test_gpt_perplexity_equals_the_hf_perplexity_on_the_same_weights():
    """gpt_perplexity on a GPT copied from a GPT2LMHeadModel equals shared.infer.llm.perplexity on the
    original: the same tokens scored, the same formula."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from shared.infer.llm import perplexity
    from shared.nn.gpt import GPT
    from shared.train.distill import gpt_perplexity

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=64, n_embd=32, n_layer=2, n_head=2)).eval()
    ours = GPT.from_hf(hf).eval()
    texts = ["The quick brown fox jumps over the lazy dog.", "Knowledge distillation, in a few bytes: " * 3]
    tok = ByteTokenizer()
    assert gpt_perplexity(ours, tok, texts, max_length=48) == pytest.approx(perplexity(hf, tok, texts, max_length=48), rel=1e-4)
