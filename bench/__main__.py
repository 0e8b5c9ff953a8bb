"""`python -m bench [NAME] [options]`: run one benchmark (default: wipe)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

DEFAULT = "wipe"


def available() -> dict[str, str]:
    """Benchmark modules (those with a main()) and their one-line description."""
    out = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "main", None)):
            out[info.name] = (module.__doc__ or "").strip().splitlines()[0]
    return out


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("--list", "-l"):
        for name, doc in sorted(available().items()):
            print(f"{name:12} {doc}")
        return 0
    name = DEFAULT
    if argv and not argv[0].startswith("-"):
        name, argv = argv[0], argv[1:]
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError:
        print(f"bench: no benchmark {name!r}; try: python -m bench --list", file=sys.stderr)
        return 2
    if not callable(getattr(module, "main", None)):
        print(f"bench: {name!r} is a helper, not a benchmark", file=sys.stderr)
        return 2
    return int(module.main(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
