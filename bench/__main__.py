"""Run benchmarks by name (default: all) and print their figures."""

from __future__ import annotations

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
    for name in names or list(BENCHMARKS):
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        print(f"== {name}", flush=True)
        BENCHMARKS[name]()
    return 0


raise SystemExit(main(sys.argv[1:]))
