"""Run every benchmark, or those named: ``python -m benchmarks [heatmaps regression ...]``.

Each ``benchmarks/bench_<name>.py`` defines ``main()``, which times attnlab and its peer in the
same process and prints the figures and their ratio.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks


def main(argv: list[str] | None = None) -> int:
    names = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )
    wanted = (argv if argv is not None else sys.argv[1:]) or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}")
        return 2
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        importlib.import_module(f"benchmarks.bench_{name}").main()
        print(f"({name}: {time.perf_counter() - start:.1f} s in all)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
