"""What the launcher tests share: Table 1's plan on the mini world with tiny budgets, and its step keys."""

# The data is scored by the judge-trained scorer, which the world build makes, so that these tests do not
# train the caption scorer (about five minutes on 2 cores); the plan still has its scorer step.
TINY_PLAN = """\
results_profile: mini
world: {seed: 0, size: full}
prefs: {instructions: mini, limit: 32, noise_step: 500, max_new_tokens: 96, batch_size: 32,
        data_scorer: judge-trained}
train: {config: cpu, seed: 42, overrides: {max_steps: 2}}
evaluate: {benchmarks: mini, limit: 6, batch_size: 32}
estimates: {world: 20, prefs: 10, train: 10, evaluate: 10, render: 1}
methods: [base, dpo, aspo]
"""
DPO = ("train", "mini-llava-s", "dpo", 0)
DPO_EVAL = ("evaluate", "mini-llava-s", "dpo", 0)
RENDER = ("render", "1")
