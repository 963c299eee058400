"""Where a report's data lives: a profile's results root and work directory (or the ones given)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sources:
    profile_name: str  # the profile file's name (mini, mini-smoke, a YAML's stem)
    results_profile: str  # mini or paper: the tables' profile
    results_root: Path
    work_dir: Path
    warning: str = ""  # the profile's table warning (the rehearsal: its values mean nothing)

    @property
    def label(self) -> str:
        if self.profile_name == self.results_profile:
            return self.profile_name
        return f"{self.profile_name} ({self.results_profile} tables)"


def resolve_sources(profile: str, results_root: str | Path | None = None, work_dir: str | Path | None = None) -> Sources:
    """The profile's paths, each replaced by the one given; refuses a results root with nothing in it."""
    from aspo_repro.errors import UserError
    from aspo_repro.orchestration import load_profile

    loaded = load_profile(profile)
    sources = Sources(
        profile_name=loaded.name, results_profile=loaded.results_profile,
        results_root=Path(results_root) if results_root else loaded.results_root,
        work_dir=Path(work_dir) if work_dir else loaded.work_dir, warning=loaded.table_warning,
    )
    if not any((sources.results_root / sources.results_profile).glob("*/*/seed*/eval.json")):
        raise UserError(f"no results under {sources.results_root / sources.results_profile} (no */*/seed*/eval.json): "
                        f"run `python -m aspo_repro reproduce --profile {profile}` first, or name another --results")
    return sources
