"""Where every number came from: per run label, its eval.json's provenance (commit, machine, when, dtype)."""

from __future__ import annotations

from typing import Any


def run_provenance(run_paths: dict[str, str]) -> dict[str, dict[str, Any]]:
    from aspo_repro.files import read_record

    found = {}
    for label, path in sorted(run_paths.items()):
        record = read_record(path, "result") or {}
        provenance = record.get("provenance") or {}
        hardware = provenance.get("hardware") or {}
        found[label] = {
            "eval.json": str(path), "git": provenance.get("git_revision") or "unknown",
            "machine": ", ".join(str(v) for v in (hardware.get("cpu"), hardware.get("platform"), provenance.get("device")) if v),
            "created": provenance.get("created"), "dtype": provenance.get("dtype"),
            "model_dir": provenance.get("model_dir"), "lmms_eval": provenance.get("lmms_eval_version"),
        }
    return found
