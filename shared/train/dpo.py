"""Learning from pairwise preferences, written to be read: the Bradley-Terry reward loss and DPO.

A preference pair is (prompt x, chosen y_w, rejected y_l). Both losses model the probability that a
person prefers y_w as a sigmoid of a score difference (Bradley & Terry, 1952):

    P(y_w > y_l | x) = sigmoid(r(x, y_w) - r(x, y_l))

- A **reward model** learns r directly: `bradley_terry_loss(r_chosen, r_rejected)` is the negative
  log-likelihood of the observed preferences (Ouyang et al., 2022).
- **DPO** (Rafailov et al., 2023) needs no reward model: the policy pi itself defines the reward,
  r(x, y) = beta * log(pi(y|x) / pi_ref(y|x)), relative to a frozen reference model, so

      loss = -log sigmoid(beta * [(log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x))])

  where log pi(y|x) is the sum of the log-probabilities of the completion's tokens
  (`completion_logps`). `tests/test_dpo.py` checks `dpo_loss` against `trl.DPOTrainer` on the same batch.
"""
import torch
import torch.nn.functional as F


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of "chosen beats rejected" under Bradley-Terry; rewards (N,)."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def completion_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     completion_mask: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
    """log pi(y|x): the summed log-probability of the completion tokens (completion_mask == 1), (B,).

    input_ids, attention_mask, completion_mask: (B, T), prompt then completion, padded on the right.
    `logits`: the model's (B, T, V) output on these inputs, if the caller already ran it."""
    if logits is None:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    logits = logits[:, :-1]                                                              # (B, T-1, V): predicts t+1
    logps = torch.log_softmax(logits.float(), dim=-1)
    token_logps = logps.gather(-1, input_ids[:, 1:, None]).squeeze(-1)                  # (B, T-1)
    return (token_logps * completion_mask[:, 1:]).sum(dim=1)                             # (B,)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1):
    """DPO's sigmoid loss from summed completion log-probs, each (N,).

    Returns (mean loss, chosen rewards, rejected rewards); reward = beta * (log pi - log pi_ref)."""
    chosen_rewards = beta * (policy_chosen - ref_chosen)                                  # (N,)
    rejected_rewards = beta * (policy_rejected - ref_rejected)                            # (N,)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards.detach(), rejected_rewards.detach()
