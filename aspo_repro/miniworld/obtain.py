"""The mini world for a command that needs it: reused from the cache, or built after saying so.

Building the full world cold takes many minutes, so no command starts one silently: before any
work, ``obtain_world`` says which stages are missing, where they go and about how long they take.
(Kept out of ``build.py``, whose code is part of every world's cache key.)
"""

from __future__ import annotations

from pathlib import Path

from aspo_repro.files import warn

# Cold build times on the reference machine (2 cores): the announcement's, and the world step's in the
# plans of the profiles with a mini world (``step_kinds.World.estimate``).
COLD_BUILD_SECONDS = {"full": 540, "tiny": 20}


def cold_build_seconds(size: str) -> float:
    return COLD_BUILD_SECONDS.get(size, 60)


def obtain_world(seed: int = 0, cache_dir: str | Path | None = None, size: str = "full",
                 progress: bool = True, log=warn, replicate: int = 0, beside=()):
    """``build.build_world``, announcing a build to ``log`` before it starts; its workers' malloc keeps
    freed memory (``child_environment``)."""
    from aspo_repro.child_environment import KEEP_FREED_MEMORY, child_environment
    from aspo_repro.miniworld.build import build_world, locate_world

    world = locate_world(seed, cache_dir, size, replicate)
    to_build = stages_to_build(world)
    if to_build:
        log(build_announcement(world, to_build))
    with child_environment(KEEP_FREED_MEMORY):
        return build_world(seed, cache_dir, size, progress=progress, replicate=replicate, beside=beside)


def stages_to_build(world) -> list[str]:
    """The stages a build would make: missing, or not intact (``build.stage_status``)."""
    from aspo_repro.miniworld.build import stage_status

    return [name for name, state in stage_status(world).items() if state != "ok"]


def recorded_world(settings: dict, progress: bool = False):
    """The world a record names (``{seed, size, replicate}``: a preference manifest's ``settings.world``),
    reused from the default cache or built after saying so."""
    return obtain_world(seed=settings["seed"], size=settings["size"], progress=progress,
                        replicate=settings.get("replicate", 0))


def build_announcement(world, to_build: list[str]) -> str:
    minutes = max(1, round(cold_build_seconds(world.size) / 60))
    return (f"building the mini world (seed {world.seed}, size {world.size}; {len(to_build)} stage(s) to build: "
            f"{', '.join(to_build)}) under {world.root.parent}: about {minutes} min cold on 2 CPU cores, "
            "then reused from this cache (choose it with --cache-dir or $ASPO_CACHE_DIR)")
