"""Plots of the report (matplotlib, Agg: no display, same PNG on every machine).

Scores of every suite share one axis, percent of the suite's full scale (a judge mean of 7.29 of
10 is 72.9 %), so the judge columns and the quiz rates can stand side by side; whiskers are the
95 % intervals and a black tick marks chance, below which a quiz score means nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a server or in CI

import matplotlib.pyplot as plt

from doctune.report import formats as fmt
from doctune.report.logs import LossCurve
from doctune.report.tables import ResultsTable, Row

DPI = 110


@dataclass
class Plot:
    name: str
    title: str
    path: Path
    caption: str


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "all"


def score_plots(table: ResultsTable, folder: Path) -> list[Plot]:
    """One grouped bar chart per dataset: every row of that dataset, every evaluated suite."""
    by_dataset: dict[str, list[Row]] = {}
    for row in table.rows:
        by_dataset.setdefault(row.dataset, []).append(row)
    plots = []
    for dataset, rows in by_dataset.items():
        suites = [
            (s, h) for s, h in table.columns if any(r.cells[s].score is not None for r in rows)
        ]
        if not suites:
            continue
        path = folder / f"scores_{_slug(dataset)}.png"
        _bar_chart(rows, suites, path, f"Scores on {dataset}")
        plots.append(
            Plot(
                name=path.stem,
                title=f"Scores per suite: {dataset}",
                path=path,
                caption="Percent of each suite's scale (judge 0-10 x 10; rates in %); "
                "whiskers: 95 % intervals; black ticks: chance.",
            )
        )
    return plots


def _bar_chart(rows: list[Row], suites: list[tuple[str, str]], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(suites) + 2), 4.2), dpi=DPI)
    width = 0.8 / len(rows)
    colors = plt.get_cmap("tab10")
    for i, row in enumerate(rows):
        xs, heights, low_err, high_err = [], [], [], []
        for j, (suite, _) in enumerate(suites):
            score = row.cells[suite].score
            if score is None or score.mean is None:
                continue
            factor = fmt.scale_to_percent(score.metric)
            mean = score.mean * factor
            low = score.ci_low * factor if score.ci_low is not None else mean
            high = score.ci_high * factor if score.ci_high is not None else mean
            xs.append(j - 0.4 + width * (i + 0.5))
            heights.append(mean)
            low_err.append(max(0.0, mean - low))
            high_err.append(max(0.0, high - mean))
            if score.chance is not None:
                chance = score.chance * factor
                ax.hlines(chance, xs[-1] - width / 2, xs[-1] + width / 2, colors="black")
        ax.bar(xs, heights, width, label=row.short, color=colors(i % 10), alpha=0.85)
        ax.errorbar(xs, heights, yerr=[low_err, high_err], fmt="none", ecolor="#333", capsize=3)
    ax.set_xticks(range(len(suites)), [h for _, h in suites], rotation=15, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of scale")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def loss_plot(curves: list[LossCurve], folder: Path) -> Plot | None:
    """Training (solid) and validation (dashed) loss of every experiment with a log."""
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=DPI)
    colors = plt.get_cmap("tab10")
    for i, curve in enumerate(curves):
        color = colors(i % 10)
        if curve.train:
            steps, losses = zip(*curve.train, strict=True)
            ax.plot(steps, losses, color=color, label=f"{curve.name} train")
        if curve.eval:
            steps, losses = zip(*curve.eval, strict=True)
            ax.plot(steps, losses, "--o", color=color, markersize=3, label=f"{curve.name} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("Training loss")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3)
    path = folder / "loss.png"
    _save(fig, path)
    return Plot(
        name="loss",
        title="Training loss curves",
        path=path,
        caption="Solid: training loss; dashed: validation loss (from each experiment's log).",
    )


def _save(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    # No timestamp in the PNG: the same scores give the same bytes, so reruns stay up to date.
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
