"""Reports: executed notebooks rendered to HTML, and the run's ``index.html``.

The index page is what a reviewer opens first, so it gives the verdict first: one row per claim
of the paper and per target of ours (quoted | measured here | best baseline here | met), computed
by :mod:`scenecolor.workbook.verdict`, then the run's five headline results in a sentence each.
Below come how the run was made (commit, profile, parameters, machine, time per step) and one
section per step: its computed "This run." sentences, at most about eight key numbers (the rest
folded away), its tables (long or secondary ones folded) and its figures as thumbnails. Every
table is badged *measured* (this run), *quoted* (the paper) or *mixed*, and quoted cells of a
mixed table are shaded.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

from scenecolor.core.artifacts import atomic_write_text, read_json
from scenecolor.core.errors import DataError
from scenecolor.workbook.labels import (
    column_name,
    columns_of,
    display_name,
    display_unit,
    format_value,
    metric_is_quoted,
    signed,
    table_badge,
    table_source,
    with_unit,
)
from scenecolor.workbook.pipeline import STEPS, VideoPlayer
from scenecolor.workbook.verdict import Verdict, headlines, read_results, verdicts

__all__ = ["format_value", "render_notebook", "write_index"]

MAX_KEY_NUMBERS = 8  # key numbers shown per step; the rest sit in a closed <details>
MAX_OPEN_ROWS = 10  # a table with more rows is folded
MAX_OPEN_FIGURES = 4  # figures shown per step; the rest sit in a closed <details>

#: The key numbers each step shows first (by recorded name); a step not listed shows its first ones.
HEADLINE_METRICS: dict[str, tuple[str, ...]] = {
    "00_data_prep": (
        "frames_train", "frames_val", "frames_test", "shots", "test_videos", "cuts", "sources_crossing_splits",
        "store_megabytes",
    ),
    "01_embedder_training": (
        "validation triplet accuracy", "validation triplet accuracy before training", "validation separation accuracy",
        "validation separation accuracy before training", "validation triplet loss", "embedder parameters",
        "initial weights",
    ),
    "02_scene_analysis": (
        "precision (ours)", "recall (ours)", "f1 (ours)", "f1 (ContentDetector)", "f1 (AdaptiveDetector)",
        "false cuts: ours (fast-motion clips)", "throughput ours / ContentDetector", "time ours / decode only",
    ),
    "03_reference_selection": (
        "P@1 trained embedder (grey queries, test vs store, same shot)",
        "mAP trained embedder (grey queries, test vs store, same shot)",
        "mAP HOG on L, tuned (grey queries, test vs store, same shot)",
        "trained mAP minus best baseline (grey queries)", "scene top-1 from own shot (open)",
        "shot top-1 from own shot (open)", "gallery top-1 from the scene's own shot", "index kind",
    ),
    "04_colorizer_training": (
        "parameters", "model size float32", "val PSNR (in_domain refs)", "val PSNR (open refs)", "val loss",
        "ms per 224x224 frame, 5 refs", "forward GFLOP per frame",
    ),
    "05_evaluation": (
        "ours_PSNR_in_domain", "ours_PSNR_open", "ours_SSIM_in_domain", "ours_SSIM_open", "ours_CDC_open",
        "exemplar_ours_PSNR", "exemplar_flow_farneback_PSNR", "ours_sec_per_frame",
    ),
    "06_edge_export": (
        "int8_speedup_vs_torch", "int8_psnr_change", "int8_file_mb", "ort_fp32_ms_per_frame",
        "colorizer_onnx_max_abs_err", "embedder_onnx_max_abs_err", "tensorrt",
    ),
}  # fmt: skip

#: The tables each step shows open (when they have at most MAX_OPEN_ROWS rows); the others are folded.
OPEN_TABLES: dict[str, tuple[str, ...]] = {
    "00_data_prep": ("split_sizes",),
    "02_scene_analysis": ("cut_scores",),
    "03_reference_selection": ("retrieval per held-out split",),
    "04_colorizer_training": ("validation_by_pool",),
    "05_evaluation": ("table_iv_measured", "exemplar_protocol"),
    "06_edge_export": ("edge_runtimes",),
}

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:16px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#c6cbd6;font-size:14px}
main{max-width:1180px;margin:0 auto;padding:12px 32px 40px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 20px;margin:14px 0}
h2{font-size:18px;margin:0 0 8px} h3{font-size:15px;margin:14px 0 6px;color:#39415a}
table{border-collapse:collapse;font-size:13px;margin:6px 0 8px}
th,td{border-bottom:1px solid #e6e8ee;padding:3px 9px;text-align:left;vertical-align:top}
th{background:#f0f2f6;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.q{background:#fdf3e3} tr.group th{background:#1d2330;color:#fff}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:11px;font-weight:600;white-space:nowrap}
.measured{background:#e2f4e8;color:#1e6b39} .quoted{background:#fdecd2;color:#8a5300}
.mixed{background:#efe6d6;color:#5b4a22}
.executed{background:#e2ecfb;color:#1f4f99} .reused{background:#ece6fb;color:#5a3b9c}
.failed,.not-met{background:#fbe3e3;color:#9b1c1c} .pending,.not-measured{background:#eee;color:#555}
.met{background:#e2f4e8;color:#1e6b39}
.caption,.small{color:#5b6478;font-size:12px} .caption{margin:2px 0 6px} .reading p{margin:4px 0 8px}
.thumbs{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin:8px 0}
.thumbs figure{margin:0} .thumbs img{width:100%;height:170px;object-fit:contain;background:#fafbfc;
border:1px solid #e1e4ea;border-radius:4px}
.thumbs figcaption{color:#5b6478;font-size:12px;height:30px;overflow:hidden}
figure{margin:8px 0} figure video{max-width:100%;border:1px solid #e1e4ea;border-radius:4px}
figcaption{color:#5b6478;font-size:13px} code{background:#f0f2f6;padding:1px 4px;border-radius:3px}
details{margin:3px 0} details summary{cursor:pointer;color:#39415a;font-size:14px}
.error{white-space:pre-wrap;color:#9b1c1c;font-family:monospace;font-size:12px}
nav a{margin-right:12px} .scroll{overflow-x:auto;max-width:100%}
table.verdict{width:100%} .verdict td:nth-child(3){width:150px} .verdict td:nth-child(2){width:150px}
.verdict td:nth-child(4){width:200px} .verdict td:first-child{width:330px}
.keys td.name{min-width:230px} .keys td.txt{max-width:380px}
"""


def render_notebook(notebook: Path, html_dir: Path) -> tuple[Path, Path]:
    """Render an executed notebook to ``<stem>.html`` and a code-free ``<stem>.reviewer.html``."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    full, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    reviewer_exporter = HTMLExporter(
        template_name="lab", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    reviewer, _ = reviewer_exporter.from_notebook_node(nb)
    stem = notebook.stem
    full_path = atomic_write_text(html_dir / f"{stem}.html", full)
    reviewer_path = atomic_write_text(html_dir / f"{stem}.reviewer.html", reviewer)
    return full_path, reviewer_path


def _esc(value: Any) -> str:
    return html.escape(str(value))


# -- cells and tables ----------------------------------------------------------------------------
def _cell(value: Any, column: str = "", quoted: bool = False) -> str:
    """A ``<td>``: numbers right-aligned, a missing value '-' with the reason, infinity explained."""
    classes = []
    title = ""
    text = format_value(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        classes.append("num")
        text = signed(column, value, text)
        if isinstance(value, float) and math.isnan(value):
            title = (
                "no figure printed by the source" if quoted else "no value: not defined or not recorded for this row"
            )
        elif isinstance(value, float) and math.isinf(value) and "psnr" in column.lower():
            text, title = "∞ identical", "identical images: PSNR is infinite"
    elif value is None:
        title = "no value recorded"
    if quoted:
        classes.append("q")
    cls = f" class='{' '.join(classes)}'" if classes else ""
    tip = f" title='{_esc(title)}'" if title else ""
    return f"<td{cls}{tip}>{_esc(text)}</td>"


def _badge(kind: str) -> str:
    return f'<span class="badge {_esc(kind.replace(" ", "-"))}">{_esc(kind)}</span>'


def _kv_table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _rows_table(table: dict[str, Any]) -> str:
    rows = table["rows"]
    if not rows:
        return "<p class='caption'>(empty table)</p>"
    src = table_source(table)
    columns = columns_of(rows)
    head = "".join(f"<th title='{_esc(c)}'>{_esc(column_name(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(row.get(c), c, src.cell(i, c)) for c in columns) + "</tr>" for i, row in enumerate(rows)
    )
    missing = any(isinstance(v, float) and math.isnan(v) for row in rows for v in row.values())
    note = "<p class='small'>- : no value in that cell (hover it for why).</p>" if missing else ""
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{note}"


def _table_block(table: dict[str, Any], open_names: tuple[str, ...]) -> str:
    badge = _badge(table_badge(table))
    title = _esc(display_name(table["name"]))
    caption = _esc(table.get("caption", ""))
    n = len(table["rows"])
    if table["name"] in open_names and n <= MAX_OPEN_ROWS:
        cap = f"<p class='caption'>{caption}</p>" if caption else ""
        return f"<h3>{title} {badge}</h3>{cap}{_rows_table(table)}"
    extra = f" <span class='small'>&mdash; {caption}</span>" if caption else ""
    return f"<details><summary><b>{title}</b> ({n} rows) {badge}{extra}</summary>{_rows_table(table)}</details>"


def _repeats_upstream(table: dict[str, Any], step_id: str) -> list[str]:
    """The other steps whose key numbers a ``step | name | value`` table repeats ([] for any other table)."""
    rows = table["rows"]
    if not rows or not {"step", "name", "value"} <= set(columns_of(rows)):
        return []
    steps = sorted({str(r.get("step")) for r in rows})
    return steps if step_id not in steps and all(s in {x.id for x in STEPS} for s in steps) else []


def _metric_row(m: dict[str, Any]) -> str:
    name = str(m.get("name", ""))
    source = "quoted" if metric_is_quoted(m) else "measured"
    value = m.get("value")
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    value_cell = (
        _cell(value, name, source == "quoted") if numeric or value is None else f"<td class='txt'>{_esc(value)}</td>"
    )
    return (
        f"<tr><td class='name' title='{_esc(name)}'>{_esc(display_name(name))}</td>{value_cell}"
        f"<td>{_esc(display_unit(name, m.get('unit', ''), value))}</td><td>{_badge(source)}</td>"
        f"<td class='small'>{_esc(m.get('note', ''))}</td></tr>"
    )


def _metrics_block(step_id: str, metrics: list[dict[str, Any]]) -> str:
    if not metrics:
        return ""
    wanted = HEADLINE_METRICS.get(step_id, ())
    by_name = {m.get("name"): m for m in metrics}
    first = [by_name[n] for n in wanted if n in by_name][:MAX_KEY_NUMBERS] or metrics[:MAX_KEY_NUMBERS]
    rest = [m for m in metrics if m not in first]
    head = "<thead><tr><th>key number</th><th>value</th><th>unit</th><th>source</th><th>note</th></tr></thead>"
    out = f"<table class='keys'>{head}<tbody>{''.join(_metric_row(m) for m in first)}</tbody></table>"
    if rest:
        out += (
            f"<details><summary>All {len(metrics)} key numbers of this step</summary>"
            f"<table class='keys'>{head}<tbody>{''.join(_metric_row(m) for m in metrics)}</tbody></table></details>"
        )
    return out


def _figures_block(figures: list[dict[str, Any]]) -> str:
    def tile(fig: dict[str, Any]) -> str:
        caption = fig.get("caption") or fig["name"]
        return (
            f"<figure><a href='{_esc(fig['path'])}'><img src='{_esc(fig['path'])}' alt='{_esc(fig['name'])}' "
            f"loading='lazy'></a><figcaption title='{_esc(caption)}'>{_esc(caption)}</figcaption></figure>"
        )

    if not figures:
        return ""
    shown, rest = figures[:MAX_OPEN_FIGURES], figures[MAX_OPEN_FIGURES:]
    out = "<div class='thumbs'>" + "".join(tile(f) for f in shown) + "</div>"
    if rest:
        out += f"<details><summary>{len(rest)} more figures</summary><div class='thumbs'>"
        out += "".join(tile(f) for f in rest) + "</div></details>"
    return out


def _markdown(text: str) -> str:
    """The little markdown the run's sentences use (**bold**, `code`, *italic*) as HTML."""
    out = _esc(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"`(.+?)`", r"<code>\1</code>", out)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"<em>\1</em>", out)


def notebook_sentences(notebook: Path) -> list[str]:
    """The markdown a step's executed notebook displayed: its computed sentences (workbook.prose), in order."""
    if not notebook.is_file():
        return []
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except ValueError:
        return []
    found = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            text = output.get("data", {}).get("text/markdown")
            if text:
                found.append("".join(text) if isinstance(text, list) else str(text))
    return found


def _step_time(run_dir: Path, step_id: str, record: dict[str, Any]) -> tuple[float | None, str]:
    """The step's wall time and how to read it: a reused step shows the time of its original execution."""
    if not record.get("reused_from"):
        return record.get("wall_time_s"), ""
    meta_path = run_dir / "artifacts" / step_id / "meta.json"
    executed = read_json(meta_path).get("wall_time_s") if meta_path.is_file() else None
    return executed, f"reused from run {record['reused_from']}: the time its notebook took there (meta.json)"


def _step_section(run_dir: Path, step_id: str, title: str, record: dict[str, Any] | None) -> str:
    results = read_results(run_dir / "artifacts" / step_id / "results.json")
    status = record["status"] if record else "pending"
    links = [
        f'<a href="{_esc(rel)}">{label}</a>'
        for label, rel in (
            ("notebook", f"html/{step_id}.html"),
            ("reviewer view", f"html/{step_id}.reviewer.html"),
            (".ipynb", f"notebooks/{step_id}.ipynb"),
        )
        if (run_dir / rel).is_file()
    ]
    seconds, how = _step_time(run_dir, step_id, record or {})
    when = (
        f" <span class='small' title='{_esc(how)}'>{seconds:.1f} s{' (reused)' if how else ''}</span>"
        if seconds
        else ""
    )
    parts = [
        f'<section id="{_esc(step_id)}"><h2>{_esc(step_id[:2])} &middot; {_esc(title)} {_badge(status)}{when}</h2>'
    ]
    if links:
        parts.append("<nav>" + "".join(links) + "</nav>")
    if record and record.get("error"):
        parts.append(f"<div class='error'>{_esc(record['error'])}</div>")
    sentences = notebook_sentences(run_dir / "notebooks" / f"{step_id}.ipynb")
    if sentences:
        parts.append("<div class='reading'>" + "".join(f"<p>{_markdown(s)}</p>" for s in sentences) + "</div>")
    parts.append(_metrics_block(step_id, results["metrics"]))
    open_names = OPEN_TABLES.get(step_id, ())
    for table in results["tables"]:
        repeated = _repeats_upstream(table, step_id)
        if repeated:
            where = ", ".join(f"<a href='#{s}'>{s[:2]}</a>" for s in repeated)
            parts.append(
                f"<p class='small'>{_esc(display_name(table['name']))}: {len(table['rows'])} key numbers of steps "
                f"{where}, shown in their sections.</p>"
            )
        else:
            parts.append(_table_block(table, open_names))
    videos = results.get("videos") or []
    if videos:
        parts.append(f"<h3>Colorized videos {_badge('measured')}</h3>")
    for i, video in enumerate(videos):
        player = VideoPlayer(run_dir / video["path"], run_dir / video["poster"], video.get("caption", ""))
        html_ = player.html(src=_esc(video["path"]), poster=_esc(video["poster"]))
        parts.append(html_ if i == 0 else f"<details><summary>Video: {_esc(video['name'])}</summary>{html_}</details>")
    parts.append(_figures_block(results["figures"]))
    if status in ("executed", "reused") and not any(results.values()):
        parts.append("<p class='caption'>This step recorded no results.</p>")
    parts.append("</section>")
    return "".join(parts)


# -- the verdict ---------------------------------------------------------------------------------
def _verdict_row(v: Verdict) -> str:
    rule = v.rule
    claim = (
        f"<a href='#{_esc(rule.step)}'>{_esc(rule.claim)}</a><br><span class='small'>{_esc(rule.rule_text())}"
        f"{'; ' + _esc(rule.note) if rule.note else ''}</span>"
    )
    if v.measured is None:
        measured = f"<td class='small'>{_esc(v.reason)}</td>"
    else:
        measured = f"<td class='num'>{_esc(rule.show(v.measured))}</td>"
    if v.baseline is None:
        baseline = "<td class='small'>none measured for this claim</td>"
    else:
        label, value = v.baseline
        text = f"{_esc(label)}: {_esc(with_unit(value, rule.unit))}"
        if v.measured is not None:
            gap = v.measured - value
            ahead = gap > 0 if rule.better == "higher" else gap < 0
            word = f"ours {'ahead' if ahead else 'behind'} by {with_unit(abs(gap), rule.unit)}" if gap else "ours level"
            text += f"<br><span class='small'>{_esc(word)}</span>"
        baseline = f"<td>{text}</td>"
    return (
        f"<tr><td>{claim}</td><td class='q'>{_esc(rule.target_text())}</td>{measured}{baseline}"
        f"<td>{_badge(v.status)}</td></tr>"
    )


def verdict_html(found: list[Verdict]) -> str:
    """The verdict table (the page's first table) and the five headline results."""
    head = (
        "<thead><tr><th>claim / target</th><th>paper (quoted) / target</th><th>measured here</th>"
        "<th>best baseline here</th><th>verdict</th></tr></thead>"
    )
    body = []
    for kind, label in (("paper", "The paper's claims"), ("target", "Our targets")):
        rows = [v for v in found if v.rule.kind == kind]
        counts = {s: sum(v.status == s for v in rows) for s in ("met", "not met", "not measured")}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        body.append(f"<tr class='group'><th colspan='5'>{label} ({summary})</th></tr>")
        body += [_verdict_row(v) for v in rows]
    lines = "".join(
        f"<tr><th><a href='#{_esc(step)}'>{_esc(topic)}</a></th><td>{_esc(text)}</td></tr>"
        for topic, text, step in headlines(found)
    )
    return (
        "<section id='verdict'><h2>Verdict</h2><table class='verdict'>"
        f"{head}<tbody>{''.join(body)}</tbody></table>"
        f"<h3>This run's headline results</h3><table>{lines}</table></section>"
    )


def write_index(run_dir: Path) -> Path:
    """(Re)write ``index.html`` of a run folder from ``run.json`` and the steps' ``results.json``.

    Raises DataError (naming the file) when ``run.json`` or a ``results.json`` is missing or
    broken; the previous index.html is then left as it was.
    """
    run_dir = Path(run_dir)
    try:
        meta = read_json(run_dir / "run.json")
    except (OSError, ValueError) as exc:
        raise DataError(f"{run_dir / 'run.json'} cannot be read ({exc}); is {run_dir} a run folder?") from None
    records = {r["step"]: r for r in meta.get("steps", [])}
    steps = [s for s in STEPS if s.id in records]
    found = verdicts(run_dir, [s.id for s in steps])
    machine = meta.get("machine", {})
    times = {s.id: _step_time(run_dir, s.id, records[s.id]) for s in steps}
    reused = [s.id for s in steps if records[s.id].get("reused_from")]
    wall = f"{meta.get('wall_time_s', 0):.1f} s"
    if reused:
        original = sum(times[s][0] or 0 for s in reused)
        wall += f" for this run; {len(reused)} reused step(s) took {original:.1f} s when executed"
    overview = _kv_table(
        [
            ("run", _esc(meta.get("run_id", run_dir.name))),
            (
                "profile",
                f"{_esc(meta.get('profile'))} <span class='caption'>{_esc(meta.get('profile_description', ''))}</span>",
            ),
            ("commit", f"<code>{_esc(meta.get('git_commit'))}</code>"),
            ("started (UTC)", _esc(meta.get("started"))),
            ("wall time", _esc(wall)),
            (
                "machine",
                _esc(
                    f"{machine.get('processor')} · {machine.get('cpu_count')} CPUs · torch threads "
                    f"{machine.get('torch_threads')} · GPU: {machine.get('cuda')} · {machine.get('platform')}"
                ),
            ),
            ("reproduce", f"<code>{_esc(meta.get('command', ''))}</code> (kernel {_esc(meta.get('kernel'))})"),
        ]
    )
    step_rows = []
    for step in steps:
        rec = records[step.id]
        seconds, how = times[step.id]
        seed = meta.get("params", {}).get(step.id, {}).get("seed", "")
        shown = f"{seconds:.1f} s" if seconds is not None else "-"
        step_rows.append(
            f"<tr><td><a href='#{step.id}'>{_esc(step.id)}</a></td><td>{_badge(rec['status'])}</td>"
            f"<td class='num'>{_esc(shown)}</td><td class='num'>{_esc(seed)}</td>"
            f"<td class='small'>{_esc(how)}</td></tr>"
        )
    steps_table = (
        "<table><thead><tr><th>step</th><th>status</th><th>time</th><th>seed</th><th></th></tr></thead><tbody>"
        + "".join(step_rows)
        + "</tbody></table>"
    )
    params_html = "".join(
        f"<h3>{_esc(sid)}</h3>" + _kv_table([(k, _esc(format_value(v))) for k, v in values.items()])
        for sid, values in meta.get("params", {}).items()
    )
    versions_html = _kv_table([(k, _esc(v)) for k, v in meta.get("versions", {}).items()])
    sections = "".join(_step_section(run_dir, s.id, s.title, records.get(s.id)) for s in steps)
    run_id = _esc(meta.get("run_id", run_dir.name))
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>scenecolor run {run_id}</title><style>{_CSS}</style></head><body>
<header><h1>scenecolor &mdash; run {run_id}</h1>
<p>Scene-aware, reference-based video colorization workbook. Numbers are
<span class="badge measured">measured</span> in this run unless marked <span class="badge quoted">quoted</span>
from the paper; a <span class="badge mixed">mixed</span> table holds both, its quoted cells shaded.</p></header>
<main>
{verdict_html(found)}
<section><h2>Run</h2>{overview}<h3>Steps</h3>{steps_table}
<details><summary>Parameters of every step</summary>{params_html}</details>
<details><summary>Package versions</summary>{versions_html}</details></section>
{sections}
</main></body></html>"""
    return atomic_write_text(run_dir / "index.html", page)
