"""The loss core against the checks of docs/aspo-math.md, without any model."""

import math

import pytest
import torch

from aspo_repro.losses import ResponseLogps, aspo_loss, dpo_loss, normaliser, preference_loss
from aspo_repro.methods import AspoOptions, get_method

BETA = 0.1


def make_side(lengths, max_len, seed, dtype=torch.float32, requires_grad=True):
    """Random per-token log-probs of a padded batch, policy with grad, reference without."""
    gen = torch.Generator().manual_seed(seed)
    policy = (-torch.rand(len(lengths), max_len, generator=gen) * 3).to(dtype)
    reference = (policy.float() + 0.3 * torch.randn(len(lengths), max_len, generator=gen)).to(dtype)
    mask = torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]
    policy.requires_grad_(requires_grad)
    return ResponseLogps(policy=policy, reference=reference, mask=mask)


def units_from_sizes(sizes_per_row, max_len):
    """Unit ids (B, T) for rows given as lists of unit sizes; -1 on padding."""
    rows = []
    for sizes in sizes_per_row:
        ids = [u for u, size in enumerate(sizes) for _ in range(size)]
        rows.append(ids + [-1] * (max_len - len(ids)))
    return torch.tensor(rows)


def fresh(side):
    return ResponseLogps(side.policy.detach().clone().requires_grad_(True), side.reference, side.mask)


def loss_and_grad(fn, chosen, rejected):
    chosen, rejected = fresh(chosen), fresh(rejected)
    out = fn(chosen, rejected)
    out.loss.backward()
    return out, chosen.policy.grad, rejected.policy.grad


def test_one_sentence_per_response_is_dpo_exactly():
    chosen, rejected = make_side([5, 7, 3], 8, 0), make_side([6, 4, 8], 8, 1)
    units = units_from_sizes([[5], [7], [3]], 8)
    sims = torch.tensor([[0.3], [0.9], [0.1]])
    dpo, dpo_gc, dpo_gr = loss_and_grad(lambda c, r: dpo_loss(c, r, BETA), chosen, rejected)
    aspo, gc, gr = loss_and_grad(
        lambda c, r: aspo_loss(c, r, units, AspoOptions(alpha=0.5), beta=BETA, similarity=sims), chosen, rejected
    )
    assert torch.equal(aspo.loss, dpo.loss)
    assert torch.equal(gc, dpo_gc) and torch.equal(gr, dpo_gr)
    assert torch.equal(aspo.c, torch.ones(3))
    assert torch.equal(aspo.weights, torch.zeros(3, 1))


def test_all_weights_zero_is_dpo_exactly():
    chosen, rejected = make_side([6, 6], 6, 2), make_side([5, 6], 6, 3)
    units = units_from_sizes([[2, 2, 2], [1, 3, 2]], 6)
    equal_sims = torch.full((2, 3), 0.42)  # max = min: every S^_i is 0; alpha 1 ignores perplexity
    dpo, dpo_gc, dpo_gr = loss_and_grad(lambda c, r: dpo_loss(c, r, BETA), chosen, rejected)
    aspo, gc, gr = loss_and_grad(
        lambda c, r: aspo_loss(c, r, units, AspoOptions(alpha=1.0), beta=BETA, similarity=equal_sims), chosen, rejected
    )
    assert torch.equal(aspo.weights, torch.zeros(2, 3))
    assert torch.equal(aspo.loss, dpo.loss)
    assert torch.equal(gc, dpo_gc) and torch.equal(gr, dpo_gr)


def test_unclamped_c_keeps_dpo_value_but_moves_the_gradient():
    chosen, rejected = make_side([6, 5], 6, 4), make_side([6, 6], 6, 5)
    units = units_from_sizes([[2, 2, 2], [3, 2]], 6)
    sims = torch.tensor([[0.1, 0.5, 0.9], [0.8, 0.2, float("nan")]])
    dpo, dpo_gc, dpo_gr = loss_and_grad(lambda c, r: dpo_loss(c, r, BETA), chosen, rejected)
    aspo, gc, gr = loss_and_grad(
        lambda c, r: aspo_loss(c, r, units, AspoOptions(alpha=0.5, clamp_c=False), beta=BETA, similarity=sims),
        chosen,
        rejected,
    )
    torch.testing.assert_close(aspo.loss, dpo.loss, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(aspo.margins, dpo.margins, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(gc, dpo_gc, atol=1e-6)
    torch.testing.assert_close(gr, dpo_gr)  # the rejected response is untouched by ASPO (Eq. 12)


def test_gradient_is_redistributed_by_c_times_one_plus_w():
    """d loss / d logp_t = -sigmoid(-M) * beta * c * (1 + w_unit(t)) on chosen tokens: checked by hand."""
    policy = torch.tensor([[-1.0, -2.0, -0.5, -1.5]], requires_grad=True)
    reference = torch.tensor([[-1.2, -2.5, -0.4, -1.0]])
    chosen = ResponseLogps(policy, reference, torch.ones(1, 4, dtype=torch.bool))
    rejected = ResponseLogps(
        torch.tensor([[-2.0, -1.0]], requires_grad=True), torch.tensor([[-1.5, -1.5]]), torch.ones(1, 2, dtype=torch.bool)
    )
    units = torch.tensor([[0, 0, 1, 1]])
    sims = torch.tensor([[0.2, 0.6]])  # S^ = [0, 1]
    out = aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0, clamp_c=False), beta=BETA, similarity=sims)
    out.loss.backward()
    r = [BETA * (0.2 + 0.5), BETA * (-0.1 - 0.5)]  # sentence rewards r_0 = 0.07, r_1 = -0.06
    w = [0.0, 1.0]
    c = sum(r) / sum((1 + wi) * ri for wi, ri in zip(w, r))
    rejected_reward = BETA * (-0.5 + 0.5)
    margin = sum(r) - rejected_reward
    assert out.weights.tolist() == [w]
    assert out.c.item() == pytest.approx(c, rel=1e-5)
    assert out.margins.item() == pytest.approx(margin, rel=1e-5)
    assert out.loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-margin))), rel=1e-6)
    g = -1 / (1 + math.exp(margin))  # d(-log sigmoid(M))/dM
    expected = [g * BETA * c * (1 + w[u]) for u in (0, 0, 1, 1)]
    assert policy.grad[0].tolist() == pytest.approx(expected, rel=1e-5)


def test_clamped_c_stays_in_range_when_rewards_disagree_in_sign():
    policy = torch.tensor([[-1.0, -2.0, -0.5, -1.5]], requires_grad=True)
    reference = torch.tensor([[-1.2, -2.5, -0.4, -1.0]])
    chosen = ResponseLogps(policy, reference, torch.ones(1, 4, dtype=torch.bool))
    rejected = ResponseLogps(torch.tensor([[-2.0]]), torch.tensor([[-1.5]]), torch.ones(1, 1, dtype=torch.bool))
    units = torch.tensor([[0, 0, 1, 1]])
    sims = torch.tensor([[0.2, 0.6]])
    unclamped = aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0, clamp_c=False), beta=BETA, similarity=sims).c.item()
    clamped = aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0), beta=BETA, similarity=sims).c.item()
    assert unclamped == pytest.approx((0.07 - 0.06) / (0.07 - 2 * 0.06), rel=1e-5)  # -0.2: outside [0.5, 1]
    assert clamped == 0.5


def test_fresh_adapter_gives_finite_loss_and_c_one():
    chosen, rejected = make_side([4, 6], 6, 6), make_side([5, 5], 6, 7)
    chosen = ResponseLogps(chosen.policy, chosen.policy.detach().clone(), chosen.mask)  # policy = reference
    rejected = ResponseLogps(rejected.policy, rejected.policy.detach().clone(), rejected.mask)
    units = units_from_sizes([[2, 2], [1, 2, 3]], 6)
    sims = torch.tensor([[0.3, 0.7, 0.0], [0.1, 0.2, 0.3]])
    out = aspo_loss(chosen, rejected, units, AspoOptions(alpha=0.5), beta=BETA, similarity=sims)
    out.loss.backward()
    assert torch.equal(out.c, torch.ones(2))
    assert out.loss.item() == pytest.approx(math.log(2))
    assert torch.isfinite(chosen.policy.grad).all()


@pytest.mark.parametrize("granularity", ["sentence", "token", "response"])
def test_bfloat16_stays_finite(granularity):
    chosen = make_side([700, 768, 512, 300], 768, 8, dtype=torch.bfloat16)
    rejected = make_side([768, 600, 700, 100], 768, 9, dtype=torch.bfloat16)
    if granularity == "token":
        units = torch.where(chosen.mask, torch.arange(768).expand(4, -1), -1)
        sims = torch.rand(4, 768)
    else:
        units = torch.where(chosen.mask, torch.arange(768).expand(4, -1) // 96, -1)
        sims = torch.rand(4, 8) if granularity == "sentence" else torch.rand(4)
    out = aspo_loss(chosen, rejected, units, AspoOptions(alpha=0.5, granularity=granularity), beta=BETA, similarity=sims.bfloat16())
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(chosen.policy.grad.float()).all()
    assert ((out.c >= 0.5) & (out.c <= 1)).all()


def test_batched_equals_row_by_row():
    chosen, rejected = make_side([6, 3, 5], 6, 10), make_side([4, 6, 2], 6, 11)
    units = units_from_sizes([[2, 4], [1, 1, 1], [5]], 6)
    sims = torch.tensor([[0.5, 0.1, 0.0], [0.3, 0.9, 0.6], [0.2, 0.0, 0.0]])
    batched = aspo_loss(chosen, rejected, units, AspoOptions(alpha=0.5), beta=BETA, similarity=sims)
    def pick(side, row):
        return ResponseLogps(side.policy[row : row + 1], side.reference[row : row + 1], side.mask[row : row + 1])

    for row in range(3):
        single = aspo_loss(pick(chosen, row), pick(rejected, row), units[row : row + 1], AspoOptions(alpha=0.5), beta=BETA, similarity=sims[row : row + 1])
        torch.testing.assert_close(single.losses, batched.losses[row : row + 1])
        torch.testing.assert_close(single.c, batched.c[row : row + 1])


def test_empty_units_are_ignored():
    """A sentence left without tokens (truncated away) takes no part in the min-max."""
    chosen, rejected = make_side([4], 6, 12), make_side([4], 6, 13)
    units = torch.tensor([[0, 0, 2, 2, -1, -1]])  # unit 1 has no tokens
    sims = torch.tensor([[0.1, 5.0, 0.3]])  # the empty unit's similarity must not set the max
    out = aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0), beta=BETA, similarity=sims)
    assert out.unit_mask.tolist() == [[True, False, True]]
    assert out.weights.tolist() == [[0.0, 0.0, 1.0]]


def test_norm_options():
    rewards = torch.tensor([[0.2, 0.1, 0.0]])
    scale = torch.tensor([[1.0, 2.0, 1.5]])
    mask = torch.tensor([[True, True, False]])
    weighted = rewards * scale
    assert normaliser("none", rewards, weighted, scale, mask).tolist() == [1.0]
    assert normaliser("weight_mean", rewards, weighted, scale, mask).item() == pytest.approx(2 / 3)
    assert normaliser("reward_ratio", rewards, weighted, scale, mask).item() == pytest.approx(0.3 / 0.4)


def test_response_granularity_shares_c_across_the_micro_batch():
    chosen, rejected = make_side([5, 6, 4], 6, 14), make_side([6, 6, 6], 6, 15)
    sims = torch.tensor([0.2, 0.8, 0.5])
    dummy_units = torch.zeros(3, 6, dtype=torch.long)
    out = aspo_loss(chosen, rejected, dummy_units, AspoOptions(alpha=1.0, granularity="response", clamp_c=False), beta=BETA, similarity=sims)
    dpo = dpo_loss(chosen, rejected, BETA)
    assert out.weights.squeeze(-1).tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert torch.unique(out.c).numel() == 1
    expected_c = dpo.chosen_rewards.sum() / ((1 + out.weights.squeeze(-1)) * dpo.chosen_rewards).sum()
    assert out.c[0].item() == pytest.approx(expected_c.item(), rel=1e-5)
    torch.testing.assert_close(out.margins, expected_c * (1 + out.weights.squeeze(-1)) * dpo.chosen_rewards - dpo.rejected_rewards)
    # a micro-batch of one response has nothing to compare with: DPO
    single = lambda s: ResponseLogps(s.policy[:1], s.reference[:1], s.mask[:1])  # noqa: E731
    one = aspo_loss(single(chosen), single(rejected), dummy_units[:1], AspoOptions(alpha=1.0, granularity="response"), beta=BETA, similarity=sims[:1])
    assert torch.equal(one.loss, dpo_loss(single(chosen), single(rejected), BETA).loss)


def test_token_granularity_weights_each_token():
    policy = torch.tensor([[-0.1, -2.0, -1.0]], requires_grad=True)
    chosen = ResponseLogps(policy, torch.tensor([[-0.2, -2.2, -1.1]]), torch.ones(1, 3, dtype=torch.bool))
    rejected = ResponseLogps(torch.tensor([[-1.0]]), torch.tensor([[-1.0]]), torch.ones(1, 1, dtype=torch.bool))
    units = torch.tensor([[0, 1, 2]])
    out = aspo_loss(chosen, rejected, units, AspoOptions(alpha=0.0, granularity="token"), beta=BETA)
    ppl = [math.exp(0.1), math.exp(2.0), math.exp(1.0)]  # PPL_t = 1 / p_t
    expected = [(max(ppl) - p) / (max(ppl) - min(ppl)) for p in ppl]
    assert out.weights[0].tolist() == pytest.approx(expected, rel=1e-5)


def test_perplexity_source_reference_uses_reference_log_probs():
    chosen, rejected = make_side([6], 6, 16), make_side([6], 6, 17)
    units = units_from_sizes([[3, 3]], 6)
    policy_method = get_method("aspo-p")
    reference_method = get_method("aspo-p", ppl_source="reference")
    from_policy = preference_loss(policy_method, chosen, rejected, units)
    from_reference = preference_loss(reference_method, chosen, rejected, units)
    explicit = aspo_loss(chosen, rejected, units, AspoOptions(alpha=0.0), beta=BETA, ppl_logps=chosen.reference)
    torch.testing.assert_close(from_reference.weights, explicit.weights)
    policy_nll = -(chosen.policy.detach()[0].reshape(2, 3).mean(-1))
    expected = [1.0, 0.0] if policy_nll[0] < policy_nll[1] else [0.0, 1.0]
    assert from_policy.weights[0].tolist() == expected


def test_dispatch_uses_the_method_loss():
    chosen, rejected = make_side([5], 6, 18), make_side([6], 6, 19)
    out = preference_loss(get_method("dpo"), chosen, rejected)
    assert torch.equal(out.loss, dpo_loss(chosen, rejected, 0.1).loss)
    with pytest.raises(ValueError, match="unit"):
        preference_loss(get_method("aspo"), chosen, rejected)


def test_metrics_report_weight_statistics():
    chosen, rejected = make_side([6], 6, 20), make_side([6], 6, 21)
    units = units_from_sizes([[2, 2, 2]], 6)
    out = aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0), beta=BETA, similarity=torch.tensor([[0.0, 0.5, 1.0]]))
    metrics = out.metrics()
    assert metrics["weights/min"] == 0.0 and metrics["weights/max"] == 1.0
    assert metrics["weights/mean"] == pytest.approx(0.5)
    assert {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "c/mean"} <= set(metrics)


def test_a_similarity_of_the_wrong_shape_is_refused_not_broadcast():
    chosen, rejected = make_side([4, 4], 4, 0), make_side([4, 4], 4, 1)
    units = units_from_sizes([[2, 2], [2, 2]], 4)
    aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0), similarity=torch.rand(2, 2))  # one per unit
    for wrong in (torch.rand(2, 1), torch.rand(1, 2), torch.rand(2, 3)):
        with pytest.raises(ValueError, match="one per unit is \\(2, 2\\)"):
            aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0), similarity=wrong, num_units=2)
    with pytest.raises(ValueError, match="one per response"):
        aspo_loss(chosen, rejected, units, AspoOptions(alpha=1.0, granularity="response"), similarity=torch.rand(3))


def test_inputs_of_the_wrong_shape_are_refused():
    chosen, rejected = make_side([4, 4], 4, 0), make_side([4, 4], 4, 1)
    with pytest.raises(ValueError, match="share one \\(B, T\\) shape"):
        ResponseLogps(chosen.policy, chosen.reference[:, :3], chosen.mask)
    with pytest.raises(ValueError, match="mask must be boolean"):
        ResponseLogps(chosen.policy, chosen.reference, chosen.mask.float())
    one_rejected = make_side([4], 4, 2)
    with pytest.raises(ValueError, match="chosen has 2 responses and rejected 1"):
        dpo_loss(chosen, one_rejected)
    units = units_from_sizes([[2, 2], [2, 2]], 4)
    with pytest.raises(ValueError, match="chosen has 2 responses and rejected 1"):
        aspo_loss(chosen, one_rejected, units, AspoOptions(alpha=0.0))
    with pytest.raises(ValueError, match="chosen_units has shape \\(2, 3\\)"):
        aspo_loss(chosen, rejected, units[:, :3], AspoOptions(alpha=0.0))
    with pytest.raises(ValueError, match="ppl_logps has shape \\(2, 5\\)"):
        aspo_loss(chosen, rejected, units, AspoOptions(alpha=0.0), ppl_logps=torch.zeros(2, 5))
