"""CI: the regression check must fail when a method's effect changes.

Runs the mini-smoke reproduction of ASPO and ASPO-oracle again with a deliberately broken loss, the
normaliser c of Eq. 12 computed *with* its gradient (then ASPO's margin is DPO's, and the sentence
weights no longer shape the update), reusing the candidate's world, preference data and other runs,
and asserts that `regress` against the committed reference fails, on the differences to DPO.

    python .ci/check_regression_detects.py CANDIDATE_RESULTS CANDIDATE_WORK [PROFILE]

PROFILE is the candidate's profile (default mini-smoke; a copy with another world replicate for a
candidate made on one).
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROKEN = {"aspo", "aspo-oracle"}


def broken_aspo_loss():
    """ASPO's loss with c = R_c / R*_c keeping its gradient (sentence units, as ASPO and the oracle use):
    the margin c * R*_c is then R_c, DPO's, wherever c is not clamped."""
    import torch

    from aspo_repro.aspo_choices import C_EPSILON, reward_ratio
    from aspo_repro.losses import aspo as aspo_module
    from aspo_repro.losses import dispatch
    from aspo_repro.losses.common import LossOutput
    from aspo_repro.weights import unit_totals

    original = aspo_module.aspo_loss

    def aspo_loss(chosen, rejected, chosen_units, options=aspo_module.ASPO_S_P, **kwargs):
        out = original(chosen, rejected, chosen_units, options, **kwargs)
        beta = kwargs.get("beta", 0.1)
        rewards = unit_totals(chosen.scaled_log_ratios(beta).unsqueeze(1), chosen_units, out.weights.shape[-1])[:, 0]
        weighted_rewards = (1 + out.weights) * rewards
        # rows whose c the normaliser sets to 1 (|R*_c| < eps: every r_i = 0 on a fresh adapter) reach it as
        # rewards of 1, so that no 0 / 0 sends NaN gradients back; the normaliser's own c everywhere
        usable = (weighted_rewards.sum(-1).abs() >= C_EPSILON)[:, None]
        c = reward_ratio(torch.where(usable, rewards, 1.0), torch.where(usable, weighted_rewards, 1.0),
                         1 + out.weights, out.unit_mask)
        margins = c * weighted_rewards.sum(-1) - rejected.scaled_log_ratios(beta).sum(-1)
        losses = -torch.nn.functional.logsigmoid(margins)
        return LossOutput(losses.mean(), losses.detach(), margins.detach(), out.chosen_rewards,
                          out.rejected_rewards, out.weights, out.unit_mask, c.detach())

    dispatch.aspo_loss = aspo_loss


def main(candidate: Path, work: Path, profile: str = "mini-smoke") -> None:
    scratch = Path(tempfile.mkdtemp(prefix="broken-loss-"))
    results, runs = scratch / "results", scratch / "work"
    shutil.copytree(candidate, results)
    shutil.copytree(work, runs, ignore=shutil.ignore_patterns("reproduce.lock*"))
    for root in (results / "mini" / "mini-llava-s", runs / "mini-llava-s"):
        for method in BROKEN:
            shutil.rmtree(root / method, ignore_errors=True)
    broken_aspo_loss()
    from aspo_repro.cli import main as cli

    code = cli(["reproduce", "--table", "1", "--table", "5", "--profile", profile, "--models", "mini-llava-s",
                "--results", str(results), "--tables-dir", str(scratch / "tables"), "--work-dir", str(runs)])
    assert code == 0, f"the broken-loss reproduction itself failed (exit {code})"
    regress = subprocess.run([sys.executable, "-m", "aspo_repro", "regress", "--reference", "results/smoke",
                              "--candidate", str(results)], capture_output=True, text=True)
    print(regress.stdout)
    failed = [line for line in regress.stdout.splitlines() if line.startswith("✗")]
    assert regress.returncode == 1, "regress passed a reproduction whose ASPO loss was broken"
    assert any("Δ vs dpo" in line and any(f" {m} " in line for m in BROKEN) for line in failed), \
        "regress failed, but not on a method's difference to DPO"
    print(f"broken normaliser: regress failed as it must ({len(failed)} checks outside their bands)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4])
