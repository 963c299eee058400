"""Errors the user can act on.

A ``UserError`` reaches the command line as one readable line and exit status 2, never as a
traceback. Raise it for bad input (unknown names, out-of-range options, malformed files);
let genuine bugs raise anything else.
"""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """Bad input or a state the user can fix; printed without a traceback."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UserError:
    """The error for a name not in a registry, listing the names that are."""
    listing = ", ".join(sorted(known))
    kinds = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
    return UserError(f"unknown {kind} {name!r}; known {kinds}: {listing}")
