"""How the run's index page writes and marks numbers: one number format, readable names and units,
and which numbers are quoted from the paper rather than measured in the run.

A recorded name such as ``ours_CDC_open`` is what a notebook wrote; the page shows "Ours, CDC,
open pool". A table is *quoted* when its own ``source`` says so, *mixed* when some of its columns
("paper (quoted)") or rows (a ``source`` cell saying "quoted") hold the paper's figures.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


# -- numbers as text ---------------------------------------------------------------------------
def format_value(value: Any) -> str:
    """One number format for the whole page.

    Integers (and whole floats from 1,000 up) get thousands separators; other floats keep 4
    significant digits without scientific notation, except magnitudes below 1e-4 (e.g. 2.29e-05);
    NaN and None are "-" (the page says why beside them), infinities "∞".
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude < 1e-4:
            return f"{value:.3g}"
        if value.is_integer() and magnitude < 1e15:
            return f"{int(value):,}"
        decimals = max(0, 3 - math.floor(math.log10(magnitude)))
        text = f"{value:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if decimals else text
    return str(value)


def with_unit(value: Any, unit: str) -> str:
    """``format_value`` and the unit ('35.94 dB', '1.46x', '0.9231')."""
    text = format_value(value)
    if not unit or text == "-":
        return text
    return f"{text}{unit}" if unit in ("x", "%") else f"{text} {unit}"


#: Readable names of recorded metric and table names (others are humanised by :func:`display_name`).
NAMES: dict[str, str] = {
    "frames_train": "Frames, train split",
    "frames_val": "Frames, val split",
    "frames_test": "Frames, test split",
    "shots_real_video": "Shots from real video",
    "paper_videos": "Paper: videos",
    "paper_frames": "Paper: frames",
    "sources_crossing_splits": "Sources in more than one split",
    "store_megabytes": "Frame store size",
    "colorizer_parameters": "Colorizer parameters",
    "colorizer_size_fp32": "Colorizer size, float32",
    "ours_sec_per_frame": "Ours, time per frame",
    "paper_sec_per_frame": "Paper: time per frame",
    "ground_truth_CDC": "Ground truth, CDC",
    "embedder_onnx_max_abs_err": "Embedder ONNX, max |difference| against torch",
    "colorizer_onnx_max_abs_err": "Colorizer ONNX, max |ab difference| against torch",
    "int8_speedup_vs_torch": "int8 speed-up over torch fp32",
    "int8_speedup_vs_torch_folded": "int8 speed-up over torch fp32 (BN folded)",
    "int8_psnr_change": "int8 PSNR change (int8 minus fp32)",
    "int8_file_mb": "int8 files, size",
    "ort_fp32_ms_per_frame": "ONNX Runtime fp32, time per frame",
    "paper_size_mb": "Paper: model size",
    "paper_s_per_frame": "Paper: time per frame",
    "tensorrt": "TensorRT",
    "val PSNR (in_domain refs)": "Validation PSNR, in-domain references",
    "val PSNR (open refs)": "Validation PSNR, open pool",
    "ms per 224x224 frame, 5 refs": "Time per 224x224 frame, 5 references",
    "paper_vs_ours": "Paper vs ours",
    "table_iii_measured": "Table III: ours by number of references",
    "table_iii_paper": "Table III of the paper",
    "table_iv_measured": "Table IV: every method at R = 5",
    "table_iv_paper": "Table IV of the paper",
    "table_v": "Table V: quality, speed and size",
}
_METHODS = {
    "ours": "Ours", "welsh": "Welsh", "reinhard": "Reinhard", "gray": "Grey", "paste": "Paste",
    "flow_dis": "Flow warp (DIS)", "flow_farneback": "Flow warp (Farneback)", "paper": "Paper",
}  # fmt: skip
_POOLS = {"in_domain": "in-domain references", "open": "open pool"}
_TOKENS = {
    "psnr": "PSNR", "ssim": "SSIM", "cdc": "CDC", "mb": "MB", "f1": "F1", "onnx": "ONNX", "ort": "ONNX Runtime",
    "sec": "s", "iii": "III", "iv": "IV", "v": "V", "vs": "vs", "gt": "ground truth", "err": "error", "n": "number of",
    "refs": "references", "ref": "reference", "ab": "ab", "dab": "dAB", "ssdev": "SSDev",
}  # fmt: skip
_UNIT_WORDS = ("ms", "s", "dB", "x")  # a name starting with a unit keeps its case ('ms per frame')
_COLUMNS = {"f1": "F1", "map": "mAP", "tp": "TP", "fp": "FP", "fn": "FN"}  # short column names, as written
_SIGNED = re.compile(r"change|minus|gain over", re.I)  # differences: shown with their sign
_UNITS = (  # units of metrics recorded without one, by name
    (re.compile(r"false cuts", re.I), "cuts"),
    (re.compile(r"^(precision|recall|f1|map)(\b|_)|accuracy|P@1|mAP|top-1|recall@1|SSIM", re.I), "0-1"),
)
_QUOTED = re.compile(r"quoted|\bpaper\b(?!'s)", re.I)  # "paper (quoted)" is quoted, "paper's rule alone" is not


# -- names, units and sources --------------------------------------------------------------------
def display_name(name: str) -> str:
    """A recorded metric, table or column name as a reader reads it (``ours_CDC_open`` -> 'Ours, CDC, open pool')."""
    if name in NAMES:
        return NAMES[name]
    methods = "|".join(_METHODS)
    m = re.fullmatch(rf"({methods})_(PSNR|SSIM|CDC)_({'|'.join(_POOLS)})", name)
    if m:
        return f"{_METHODS[m[1]]}, {m[2]}, {_POOLS[m[3]]}"
    m = re.fullmatch(rf"exemplar_({methods})_(PSNR|SSIM|CDC)", name)
    if m:
        return f"Exemplar protocol: {_METHODS[m[1]]}, {m[2]}"
    m = re.fullmatch(r"paper_(\w+)", name)
    if m:
        return f"Paper: {display_name(m[1])}"
    if "_" in name:
        name = name.replace("in_domain", "in-domain")
        name = " ".join(_TOKENS.get(w.lower(), w) for w in re.split(r"[_ ]+", name) if w)
    name = re.sub(r"^(f1|map)\b", lambda m: {"f1": "F1", "map": "mAP"}[m[1].lower()], name, flags=re.I)
    first = re.match(r"[a-z]+\b", name)
    return name[:1].upper() + name[1:] if first and len(first[0]) > 1 and first[0] not in _UNIT_WORDS else name


def column_name(column: str) -> str:
    """A table's column header: short names as written (tp, AD), snake_case ones humanised."""
    if column.lower() in _COLUMNS:
        return _COLUMNS[column.lower()]
    return display_name(column) if "_" in column or column in NAMES else column


def signed(name: str, value: Any, text: str) -> str:
    """``text`` with a '+' when ``name`` is a difference (a change, a gain) and ``value`` is positive."""
    positive = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    return f"+{text}" if positive and _SIGNED.search(name) and math.isfinite(value) else text


def display_unit(name: str, unit: str, value: Any = 0.0) -> str:
    """The recorded unit, or the one the name implies for a number recorded without one ('false cuts' -> cuts)."""
    if unit or isinstance(value, str):
        return unit
    return next((u for pattern, u in _UNITS if pattern.search(name)), "")


def metric_is_quoted(metric: dict[str, Any]) -> bool:
    """A metric from the paper: recorded as quoted, or named like one ('paper_PSNR', 'f1 (paper)')."""
    return metric.get("source") == "quoted" or bool(_QUOTED.search(str(metric.get("name", ""))))


@dataclass(frozen=True)
class TableSource:
    """Which cells of a recorded table are quoted: the whole table, some columns, or some rows."""

    whole: bool
    columns: frozenset[str]
    rows: frozenset[int]

    def cell(self, row: int, column: str) -> bool:
        """True when the cell at ``row``, ``column`` holds a quoted figure."""
        return self.whole or column in self.columns or row in self.rows


def table_source(table: dict[str, Any]) -> TableSource:
    """Read a table's quoted parts from its ``source``, its column names and any per-row ``source`` column."""
    columns = columns_of(table["rows"])
    quoted_columns = frozenset(c for c in columns if c != "source" and _QUOTED.search(c))
    quoted_rows = frozenset(i for i, r in enumerate(table["rows"]) if "quoted" in str(r.get("source", "")).lower())
    return TableSource(table.get("source") == "quoted", quoted_columns, quoted_rows)


def table_badge(table: dict[str, Any]) -> str:
    """'quoted' when every number of the table is quoted, 'mixed' when some are, else 'measured'."""
    src = table_source(table)
    flags = [
        src.cell(i, c)
        for i, row in enumerate(table["rows"])
        for c, v in row.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    if src.whole or (flags and all(flags)):
        return "quoted"
    return "mixed" if any(flags) else "measured"


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return columns
