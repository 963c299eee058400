"""mini-SHR: detailed descriptions, every sentence judged exactly against the scene."""

from aspo_repro.evaluation.mini_tasks import (  # noqa: F401  (named by the YAML files)
    doc_to_visual,
    shr,
    shr_doc_to_text,
    shr_process_results,
)
