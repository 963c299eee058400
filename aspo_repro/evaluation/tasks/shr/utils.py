"""SHR (HA-DPO): detailed descriptions of Visual Genome images, judged sentence by sentence."""

from aspo_repro.evaluation.paper_tasks import (  # noqa: F401  (named by the YAML file)
    shr,
    shr_doc_to_text,
    shr_doc_to_visual,
    shr_process_results,
)
