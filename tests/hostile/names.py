"""Hostile names: what a renamed Label Studio project or a forged event may carry."""

from __future__ import annotations

import sys

TRIPWIRE = "tests.hostile.tripwire"

# Each would have been imported (or used as a path) by `resolve_spec` before names had a pattern.
HOSTILE_NAMES = [
    "this:s",  # the Zen of Python printed in the serve log
    f"{TRIPWIRE}:SPEC",
    "os:system",
    "cleansing.schemas.DigitImages",
    "../digits",
    "digits/../../etc",
    "Digits",
    "digits ",
    "",
    "a" * 61,
]


def forget_imports() -> None:
    """Drop the modules a hostile name could import, so a test sees a fresh import."""
    for module in (TRIPWIRE, "this"):
        sys.modules.pop(module, None)


def imported() -> list[str]:
    """The hostile modules that were imported since `forget_imports`."""
    return [module for module in (TRIPWIRE, "this") if module in sys.modules]
