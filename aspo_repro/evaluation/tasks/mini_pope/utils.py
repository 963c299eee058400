"""mini-POPE: yes/no existence questions, one task per negative-sampling split."""

from aspo_repro.evaluation.mini_tasks import (  # noqa: F401  (named by the YAML files)
    doc_to_visual,
    pope_accuracy,
    pope_doc_to_text,
    pope_f1,
    pope_precision,
    pope_process_results,
    pope_recall,
    pope_split,
    pope_yes_ratio,
)


def random_split(dataset):
    return pope_split(dataset, "random")


def popular_split(dataset):
    return pope_split(dataset, "popular")


def adversarial_split(dataset):
    return pope_split(dataset, "adversarial")
