"""mini-GQA: colour, count, position and shape questions with one-word or short answers."""

from aspo_repro.evaluation.mini_tasks import (  # noqa: F401  (named by the YAML files)
    doc_to_visual,
    gqa_doc_to_text,
    gqa_process_results,
)
