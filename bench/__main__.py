"""`python -m bench` runs every benchmark; `python -m bench NAME [ARGS...]` runs one."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def benchmarks() -> list[str]:
    """The benchmarks: every module (not subpackage) of this package without a leading underscore."""
    found = pkgutil.iter_modules(bench.__path__)
    return sorted(module.name for module in found if not module.ispkg and not module.name.startswith("_"))


def main(argv: list[str]) -> int:
    known = benchmarks()
    if argv and argv[0] not in known:
        print(f"unknown benchmark {argv[0]!r}; choose from: {', '.join(known)}", file=sys.stderr)
        return 2
    runs = [(argv[0], argv[1:])] if argv else [(name, []) for name in known]
    failures = 0
    for name, args in runs:
        print(f"== bench {name} ==", flush=True)
        failures += importlib.import_module(f"bench.{name}").main(args) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
