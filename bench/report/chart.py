"""docs/benchmarks.png: throughput of every server workload and loop overhead, one grouped-bar panel each."""
from __future__ import annotations

from pathlib import Path

from ..runners.inprocess import Results
from ..runners.servers import C_SERVER, ServerResults
from .servers import rows as server_rows

COLORS = {C_SERVER: "#555555", "ringloop": "#d62728", "asyncio": "#1f77b4", "uvloop": "#2ca02c"}


def matplotlib_problem() -> str | None:
    """None when matplotlib can be imported, else why not (it is a bench extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        return f"matplotlib is not installed ({exc}); pip install -e '.[bench]'"
    return None


def _bars(ax, groups: list[str], series: dict[str, list[tuple[float, float, float] | None]], ylabel: str) -> None:
    """Grouped bars: per group, one bar per series at its median, with a min–max error bar."""
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + i * width for g, v in enumerate(values) if v is not None]
        present = [v for v in values if v is not None]
        med = [v[0] for v in present]
        err = [[v[0] - v[1] for v in present], [v[2] - v[0] for v in present]]
        ax.bar(xs, med, width, yerr=err, capsize=2, label=name, color=COLORS.get(name))
    ax.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels(groups, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)


def _server_series(results: ServerResults) -> tuple[list[str], dict[str, list[tuple[float, float, float] | None]]]:
    """Groups are workloads (the C row sits in every workload it is the reference of)."""
    pairs = server_rows(results)
    servers = list(dict.fromkeys(server for _, server in pairs))
    groups = [w.name for w in results.workloads]
    series: dict[str, list[tuple[float, float, float] | None]] = {s: [] for s in servers}
    for w in results.workloads:
        for server in servers:
            key = w.reference if server == C_SERVER else w.name
            s = results.summary(key, server, "ops_per_s") if key else None
            series[server].append(None if s is None else (s.median, s.low, s.high))
    return groups, series


def _loop_series(results: Results) -> tuple[list[str], dict[str, list[tuple[float, float, float] | None]]]:
    groups = [w.name for w in results.workloads]
    series: dict[str, list[tuple[float, float, float] | None]] = {}
    for spec in results.loops:
        values = [(s.median, s.low, s.high) if (s := results.summary(w.name, spec.name)) else None
                  for w in results.workloads]
        if any(values):
            series[spec.name] = values
    return groups, series


def write(path: Path, loop_results: Results | None, server_results: ServerResults | None, title: str) -> None:
    """Draw the panels that have data into the PNG ``path`` with the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a benchmark box
    import matplotlib.pyplot as plt

    panels = []
    if server_results is not None and server_results.workloads:
        panels.append((*_server_series(server_results), "ops/s (round trips or requests), log scale", True))
    if loop_results is not None and loop_results.workloads:
        panels.append((*_loop_series(loop_results), "µs per operation (lower is better)", False))
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 4.5 * len(panels)), squeeze=False)
    for ax, (groups, series, ylabel, log) in zip(axes[:, 0], panels):
        _bars(ax, groups, series, ylabel)
        if log:
            ax.set_yscale("log")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
