"""mini-SHR: detailed descriptions, every sentence judged exactly against the scene."""

from aspo_repro.evaluation.mini_tasks import (  # noqa: F401  (named by the YAML files)
    correct_per_image,
    doc_to_visual,
    hallucinated_per_image,
    shr,
    shr_doc_to_text,
    shr_process_results,
)
