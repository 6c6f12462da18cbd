"""Print a pytest-benchmark JSON as Markdown tables, one per group.

    pytest benchmarks --benchmark-only --benchmark-json=RUN.json
    python benchmarks/report.py RUN.json

Each row is an engine (``extra_info["engine"]``, else the test name) with its
median seconds and its speedup over the naive loop of the same group in the
same run. A row timed on a sample of coordinates carries
``extra_info["full_seconds_estimate"]``: its time for all of them,
extrapolated, shown with a ``*`` and used for the speedups. A group without a naive row (compilation) has no speedup column;
instead its ``extra_info`` dicts of per-step seconds become a table.
"""

import json
import sys

BASELINE = "naive"


def machine_line(info):
    """One line naming the machine and the thread count the engines ran with."""
    cpu = info.get("cpu", {})
    line = (f"Machine: {cpu.get('brand_raw', 'unknown CPU')}, {cpu.get('count', '?')} cores, "
            f"Python {info.get('python_version', '?')}")
    numba = info.get("numba")
    if numba:
        line += f", Numba {numba['version']} ({numba['threads']} threads)"
    return line


def seconds(bench):
    """A row's seconds for the whole check: measured, or extrapolated from a sample."""
    return bench.get("extra_info", {}).get("full_seconds_estimate") or bench["stats"]["median"]


def label(bench):
    """The seconds cell: ``1.23`` measured, ``1.23*`` extrapolated."""
    mark = "*" if bench.get("extra_info", {}).get("full_seconds_estimate") else ""
    return f"{seconds(bench):.3g}{mark}"


def group_table(name, benchmarks):
    """The Markdown lines for one group."""
    rows = [(b.get("extra_info", {}).get("engine", b["name"]), b) for b in benchmarks]
    baseline = next((seconds(b) for engine, b in rows if engine == BASELINE), None)
    size = benchmarks[0].get("extra_info", {}).get("parameters")
    lines = [f"### {name}" + (f" ({size} parameters)" if size else ""), ""]
    if baseline is None:
        lines += ["| engine | median (s) |", "|---|---:|"]
        lines += [f"| {engine} | {label(b)} |" for engine, b in rows]
        for engine, b in rows:
            lines += steps_table(engine, b.get("extra_info", {}))
        return lines
    lines += ["| engine | median (s) | speedup vs naive |", "|---|---:|---:|"]
    for engine, b in rows:
        lines.append(f"| {engine} | {label(b)} | {baseline / seconds(b):.1f}x |")
    if any(label(b).endswith("*") for _, b in rows):
        lines += ["", "\\* timed on a sample of coordinates, extrapolated to all of them"]
    return lines


def steps_table(engine, extra_info):
    """A table of the dict-valued ``extra_info`` entries: steps down, entries across."""
    columns = {k: v for k, v in extra_info.items() if isinstance(v, dict)}
    if not columns:
        return []
    steps = list(next(iter(columns.values())))
    lines = ["", f"{engine}, seconds per step:", "",
             "| step | " + " | ".join(columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for step in steps:
        cells = [f"{column.get(step, float('nan')):.3g}" for column in columns.values()]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return lines


def report(run):
    """The whole report for a loaded pytest-benchmark JSON ``run``."""
    groups = {}
    for bench in run["benchmarks"]:
        groups.setdefault(bench["group"] or "ungrouped", []).append(bench)
    lines = [machine_line(run["machine_info"]), ""]
    for name, benchmarks in groups.items():
        lines += group_table(name, benchmarks) + [""]
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2:
        print(f"usage: python {argv[0]} RUN.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        print(report(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
