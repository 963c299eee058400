"""mini-MMB: multiple choice with circular evaluation (one document per rotation of the options)."""

from aspo_repro.evaluation.mini_tasks import (  # noqa: F401  (named by the YAML files)
    circular_accuracy,
    doc_to_visual,
    mmb_doc_to_text,
    mmb_process_results,
    mmb_rotations,
)
