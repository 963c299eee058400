"""The paper's preference data: the SeVa pipeline (``python -m aspo_repro prefs``).

- :mod:`instructions`: LLaVA-Instruct-150K records + image folder, sampling, record checks;
- :mod:`noise`: forward diffusion of the processor's pixel tensor (the rejected image);
- :mod:`generation`: batched greedy chosen/rejected answers;
- :mod:`shards`: resumable shards and the final dataset; :mod:`pipeline`: the whole run;
- :mod:`backends`: the model, CLIP scorer and mini-world ground truth a run uses;
- :mod:`hallucination`: chosen vs rejected hallucination against the mini world's ground truth;
- :mod:`show`: one pair with its sentence similarities.
"""

from aspo_repro.data.instructions import (
    Instruction,
    InstructionSet,
    RecordProblem,
    read_instructions,
)
from aspo_repro.data.noise import add_diffusion_noise, diffusion_scheduler
from aspo_repro.data.pipeline import (
    Backends,
    PrefsConfig,
    PrefsResult,
    build_preferences,
    pair_features,
)
from aspo_repro.data.show import PairView, format_pair, load_pair

__all__ = [
    "Backends",
    "Instruction",
    "InstructionSet",
    "PairView",
    "PrefsConfig",
    "PrefsResult",
    "RecordProblem",
    "add_diffusion_noise",
    "build_preferences",
    "diffusion_scheduler",
    "format_pair",
    "load_pair",
    "pair_features",
    "read_instructions",
]
