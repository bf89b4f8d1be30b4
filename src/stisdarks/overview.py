"""Every target at a glance: ``results/summary.csv`` (one row per observation) and one figure.

The rows come from each processed observation's ``summary.json`` and, for programme
targets, from ``programme.csv`` — the observations skipped there get a row too, with
the reason, so the table accounts for the whole programme.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stisdarks.atomic import atomic_path

__all__ = ["COLUMNS", "overview_rows", "plot_overview", "write_overview_table"]

COLUMNS = [
    "obs_id", "programme", "status", "reason", "kind", "period_start", "observation_start",
    "darks_in_period", "darks_in_week", "hot_pixels_before", "hot_pixels_after", "hot_pixels_removed",
    "counted_over", "rms_flux_change", "cosmic_ray_inside_fraction", "cosmic_ray_outside_fraction",
    "cosmic_ray_ratio", "cosmic_ray_status", "cosmic_ray_verdict", "engine", "calibrator", "cti",
    "flux_vs_truth_pipeline", "flux_vs_truth_recalibrated", "trail_pipeline_dark", "trail_weekdark",
]  # fmt: skip

#: summary.json blocks that hold the before/after hot-pixel counts, by kind
_COUNT_BLOCKS = ("science_extraction_region", "science_image")


def _counts(summary: dict[str, Any]) -> tuple[dict[str, Any], str]:
    for name in _COUNT_BLOCKS:
        if name in summary:
            block = summary[name]
            over = "extraction box" if name == "science_extraction_region" else "image"
            return block, over
    return {}, ""


def _row_of_summary(summary: dict[str, Any], programme: str) -> dict[str, Any]:
    counts, over = _counts(summary)
    spectrum = summary.get("spectrum_change") or {}
    rays = summary.get("cosmic_rays") or {}
    before, after = counts.get("hot_pixels_pipeline"), counts.get("hot_pixels_recalibrated")
    return {
        "obs_id": summary["obs_id"],
        "programme": programme,
        "status": "processed",
        "reason": "",
        "kind": summary.get("kind", "spectrum"),
        "period_start": summary.get("period", {}).get("start", ""),
        "observation_start": summary.get("observation_start", ""),
        "darks_in_period": summary.get("darks", {}).get("period", {}).get("n", ""),
        "darks_in_week": summary.get("darks", {}).get("week", {}).get("n", ""),
        "hot_pixels_before": before,
        "hot_pixels_after": after,
        "hot_pixels_removed": counts.get("removed", ""),
        "counted_over": over,
        "rms_flux_change": spectrum.get("rms_flux", ""),
        "cosmic_ray_inside_fraction": rays.get("inside_fraction", ""),
        "cosmic_ray_outside_fraction": rays.get("outside_fraction", ""),
        "cosmic_ray_ratio": rays.get("ratio", ""),
        "cosmic_ray_status": rays.get("status", ""),
        "cosmic_ray_verdict": rays.get("verdict", ""),
        "engine": summary.get("engine", ""),
        "calibrator": summary.get("calibrator", ""),
        "cti": _cti_column(summary.get("cti", {})),
        **_truth_columns((summary.get("cti") or {}).get("truth")),
    }


def _truth_columns(truth: dict | None) -> dict[str, Any]:
    """The synthetic demo's measures against its truth (``cti.truth``); empty for real data."""
    truth = truth or {}
    spectrum, trails = truth.get("spectrum") or {}, truth.get("dark_trails") or {}
    out = {}
    for who in ("pipeline", "recalibrated"):
        flux = (spectrum.get(who) or {}).get("median_relative")
        out[f"flux_vs_truth_{who}"] = "" if flux is None else round(flux, 5)
    for dark in ("pipeline_dark", "weekdark"):
        trail = (trails.get(dark) or {}).get("trail")
        out[f"trail_{dark}"] = "" if trail is None else round(trail, 5)
    return out


def _cti_column(cti: dict) -> str:
    """``yes`` (darks and science CTI-corrected), ``no``, or ``no: <why stis_cti cannot>``."""
    if cti.get("darks") and cti.get("science"):
        return "yes"
    return f"no: {cti['refusal']}" if cti.get("refusal") else "no"


def overview_rows(
    summaries: Sequence[os.PathLike], programmes: Sequence[os.PathLike] = ()
) -> list[dict[str, Any]]:
    """One row per observation: the processed ones (their ``summary.json``) in the given
    order, then each programme's skipped ones with the reason."""
    from stisdarks.programme import SKIP, read_table

    member_of: dict[str, str] = {}
    skipped: list[dict[str, Any]] = []
    for table in programmes:
        name = Path(table).parent.name
        for c in read_table(table):
            member_of.setdefault(c.obs_id, name)
            if c.status == SKIP:
                skipped.append(
                    {
                        **dict.fromkeys(COLUMNS, ""),
                        "obs_id": c.obs_id,
                        "programme": name,
                        "status": "skipped",
                        "reason": c.reason,
                        "kind": c.kind,
                    }  # fmt: skip
                )
    rows = []
    for path in summaries:
        with open(path) as fh:
            summary = json.load(fh)
        rows.append(_row_of_summary(summary, member_of.get(summary["obs_id"], "")))
    return rows + skipped


def write_overview_table(path: os.PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``summary.csv`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in COLUMNS})
    return Path(path)


def plot_overview(path: os.PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Hot pixels before/after per processed observation, grouped by anneal period; the
    skipped observations listed with their reason below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["status"] == "processed"]
    done.sort(key=lambda r: (str(r["period_start"]), str(r["observation_start"])))
    skipped = [r for r in rows if r["status"] != "processed"]
    height = 1.6 + 0.42 * max(len(done), 1) + 0.22 * len(skipped)
    fig, ax = plt.subplots(figsize=(8.5, height))
    periods = list(dict.fromkeys(str(r["period_start"]) for r in done))
    colours = plt.get_cmap("tab10")
    labels = []
    top = 1.0
    for i, r in enumerate(done):
        colour = colours(periods.index(str(r["period_start"])) % 10)
        before = float(r["hot_pixels_before"] or 0)
        after = float(r["hot_pixels_after"] or 0)
        ax.barh(
            i - 0.2, before, height=0.38, color="0.75", label="pipeline dark" if i == 0 else None
        )
        ax.barh(i + 0.2, after, height=0.38, color=colour)
        ax.text(before, i - 0.2, f" {before:.0f}", va="center", fontsize=8)
        ax.text(after, i + 0.2, f" {after:.0f}", va="center", fontsize=8)
        top = max(top, before, after)
        flagged = (
            " — valid data flagged as CRs!" if r.get("cosmic_ray_status") == "overflagged" else ""
        )
        labels.append(f"{r['obs_id']} ({r['kind']}, {r['counted_over']}){flagged}")
    ax.set_yticks(range(len(done)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("residual hot pixels (pipeline dark: grey; custom weekdark: coloured by period)")
    for k, start in enumerate(periods):
        ax.plot([], [], color=colours(k % 10), lw=6, label=f"period from {start[:10]}")
    ax.set_xlim(0, top * 1.45)  # room for the legend beside the longest bar
    if done:
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title(
        f"{len(done)} observation(s) recalibrated in {len(periods)} anneal period(s)"
        + (f", {len(skipped)} skipped" if skipped else "")
    )
    if skipped:
        text = "\n".join(f"skipped {r['obs_id']}: {r['reason']}" for r in skipped)
        fig.text(0.01, 0.01, text, fontsize=7, va="bottom", family="monospace")
        fig.subplots_adjust(bottom=min(0.6, (0.25 + 0.22 * len(skipped)) / height))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
    plt.close(fig)
    return Path(path)
