"""Run benchmarks by name (default: all) and print their figures.

Several benchmarks run each in a process of its own: one that grew big (the
provenance benchmark holds 4K images) would otherwise pass its memory peak
to every command the next one starts, since a child's peak counts its
parent's pages until it runs a program of its own.
"""

from __future__ import annotations

import subprocess
import sys

from bench import plan_10k, plan_dag, provenance, providers, remote, report

BENCHMARKS = {
    "plan_10k": plan_10k.main,
    "plan_dag": plan_dag.main,
    "providers": providers.main,
    "provenance": provenance.main,
    "remote": remote.main,
    "report": report.main,
}


def main(names: list[str]) -> int:
    chosen = names or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    if len(chosen) > 1:
        return max(
            subprocess.run([sys.executable, "-m", "bench", name]).returncode for name in chosen
        )
    print(f"== {chosen[0]}", flush=True)
    BENCHMARKS[chosen[0]]()
    return 0


raise SystemExit(main(sys.argv[1:]))
