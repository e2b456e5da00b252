"""Reading the lock files (requirements-lock.txt, constraints-gpu.txt): the pins, the header, and what an
environment holds beside them.

    python -m tests.lockfile requirements-lock.txt   # what this interpreter's packages differ from the lock in

``make test-latest`` runs it in its venv of newest releases, so each upstream move is listed before the tests run.
"""
from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def canonical(name: str) -> str:
    """The normalized project name (PEP 503): ``PyYAML`` and ``pyyaml``, ``typing_extensions`` and
    ``typing-extensions`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line of a compiled lock file."""
    found = {}
    for line in path.read_text().splitlines():
        if match := PIN.match(line.strip()):
            found[canonical(match.group(1))] = match.group(2)
    return found


def header(path: Path) -> str:
    """The leading comment block: the tool and the command that generated the file."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def installed() -> dict[str, str]:
    """``name -> version`` of every distribution this interpreter can import: the first on ``sys.path``, as an
    import finds it. Why first: setuptools, once imported (torch.compile's CPU build does), appends its own
    vendored older copies (packaging, platformdirs) to the end of ``sys.path``; they are never the ones imported."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        found.setdefault(canonical(dist.metadata["Name"]), dist.version)
    return found


def differences(locked: dict[str, str], present: dict[str, str]) -> list[str]:
    """One line per package whose version differs from the lock, or that only one side has."""
    lines = []
    for name in sorted(set(locked) | set(present)):
        old, new = locked.get(name), present.get(name)
        if old != new:
            lines.append(f"{name}: {old or '(not in the lock)'} -> {new or '(not installed)'}")
    return lines


def main(argv: list[str]) -> int:
    lock = Path(argv[1]) if len(argv) > 1 else ROOT / "requirements-lock.txt"
    lines = differences(pins(lock), installed())
    print(f"{len(lines)} package(s) differ from {lock.name}" + (":" if lines else ""))
    for line in lines:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
