"""Label Studio's own venv, installed from its committed lock and checked.

Label Studio pins libraries that clash with Prefect, so it lives in a venv of its own.
That venv holds exactly `stack/locks/label-studio.txt` (every package pinned, with
hashes): `uv pip sync` installs what is missing, replaces what drifted and removes what
the lock does not name, and `uv pip check` then verifies the set. Refresh the lock on
purpose with `make lock`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel
from uv import find_uv_bin

from stack import process
from stack.process import StackError
from stack.settings import StackSettings

LOCKS = Path(__file__).with_name("locks")
LABEL_STUDIO_LOCK = LOCKS / "label-studio.txt"

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


class InstallReport(BaseModel):
    """What `install_label_studio` did."""

    venv: Path
    label_studio_version: str
    changed: bool  # False when the venv already matched the lock


def locked_versions(lock_text: str) -> dict[str, str]:
    """`name -> version` of every `name==version` pin in a requirements lock.

    Names are normalised as PEP 503 does (lower case, runs of `-_.` as `-`).
    """
    pins = {}
    for line in lock_text.splitlines():
        pin = _PIN.match(line)
        if pin:
            pins[normalise(pin["name"])] = pin["version"]
    return pins


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def install_label_studio(settings: StackSettings) -> InstallReport:
    """Make Label Studio's venv hold exactly the locked set, then check it.

    Returns:
        The venv, the locked Label Studio version and whether anything changed.

    Raises:
        StackError: the install or the check failed; names its log and its last lines.
    """
    venv = settings.label_studio_venv
    python = venv / "bin" / "python"
    log_path = settings.logs_dir / "install-label-studio.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    uv = find_uv_bin()
    steps = [
        [
            uv, "pip", "sync", "--require-hashes", "--compile-bytecode",
            "--python", str(python), str(LABEL_STUDIO_LOCK),
        ],
        [uv, "pip", "check", "--python", str(python)],
    ]
    if not python.exists():
        steps.insert(0, [uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    changed = not python.exists()
    with log_path.open("a") as log:
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, check=False)
            log.write(f"$ {' '.join(step)}\n{result.stdout}{result.stderr}")
            log.flush()
            if result.returncode != 0:
                raise StackError(
                    f"label-studio: `{' '.join(step[:3])}` in {venv} failed "
                    f"(exit {result.returncode}); see {log_path}:\n{process.tail(log_path)}"
                )
            changed = changed or _changed(result.stderr)
    version = locked_versions(LABEL_STUDIO_LOCK.read_text())["label-studio"]
    return InstallReport(venv=venv, label_studio_version=version, changed=changed)


def _changed(uv_output: str) -> bool:
    """Whether `uv pip sync` reported installing or removing anything."""
    return re.search(r"^(Installed|Uninstalled) \d+ package", uv_output, re.MULTILINE) is not None
