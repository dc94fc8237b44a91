"""Reports: executed notebooks rendered to HTML, and the run's ``index.html``.

The index page is what a reviewer opens first. It shows how the run was made (commit, profile,
parameters, seed, versions, machine, time per step) and the results every notebook recorded
through :class:`~scenecolor.workbook.pipeline.StepContext` (metrics, tables, figures, videos), each number marked
*measured* (this run) or *quoted* (the paper), with links to the rendered notebooks.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from scenecolor.core.artifacts import atomic_write_text, read_json
from scenecolor.workbook.pipeline import STEPS, VideoPlayer

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#c6cbd6;font-size:14px}
main{max-width:1180px;margin:0 auto;padding:20px 32px 60px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:16px 20px;margin:18px 0}
h2{font-size:18px;margin:0 0 10px} h3{font-size:15px;margin:18px 0 6px;color:#39415a}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border-bottom:1px solid #e6e8ee;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f0f2f6;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:11px;font-weight:600}
.measured{background:#e2f4e8;color:#1e6b39} .quoted{background:#fdecd2;color:#8a5300}
.executed{background:#e2ecfb;color:#1f4f99} .reused{background:#ece6fb;color:#5a3b9c}
.failed{background:#fbe3e3;color:#9b1c1c} .pending{background:#eee;color:#555}
.caption{color:#5b6478;font-size:13px;margin:2px 0 8px}
figure{margin:10px 0 18px} figure img,figure video{max-width:100%;border:1px solid #e1e4ea;border-radius:4px}
figcaption{color:#5b6478;font-size:13px} code{background:#f0f2f6;padding:1px 4px;border-radius:3px}
details summary{cursor:pointer;color:#39415a}
.error{white-space:pre-wrap;color:#9b1c1c;font-family:monospace;font-size:12px}
nav a{margin-right:12px} .scroll{overflow-x:auto;max-width:100%}
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


def format_value(value: Any) -> str:
    """Numbers with sensible precision; everything else as text."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        magnitude = abs(value)
        if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e6):
            return f"{value:.3e}"
        if magnitude >= 100:
            return f"{value:,.1f}"
        return f"{value:.4g}" if magnitude < 1 else f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def _badge(kind: str) -> str:
    return f'<span class="badge {_esc(kind)}">{_esc(kind)}</span>'


def _kv_table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _rows_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='caption'>(empty table)</p>"
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c)
            cls = " class='num'" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{_esc(format_value(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _step_section(run_dir: Path, step_id: str, title: str, record: dict[str, Any] | None) -> str:
    results_path = run_dir / "artifacts" / step_id / "results.json"
    results = read_json(results_path) if results_path.is_file() else {"metrics": [], "tables": [], "figures": []}
    status = record["status"] if record else "pending"
    links = []
    for label, rel in (
        ("notebook", f"html/{step_id}.html"),
        ("reviewer view", f"html/{step_id}.reviewer.html"),
        (".ipynb", f"notebooks/{step_id}.ipynb"),
    ):
        if (run_dir / rel).is_file():
            links.append(f'<a href="{_esc(rel)}">{label}</a>')
    parts = [f'<section id="{_esc(step_id)}"><h2>{_esc(step_id[:2])} &middot; {_esc(title)} {_badge(status)}</h2>']
    if links:
        parts.append("<nav>" + "".join(links) + "</nav>")
    if record and record.get("error"):
        parts.append(f"<div class='error'>{_esc(record['error'])}</div>")
    if results.get("videos"):
        parts.append(f"<h3>Colorized videos {_badge('measured')}</h3>")
        for video in results["videos"]:
            player = VideoPlayer(run_dir / video["path"], run_dir / video["poster"], video.get("caption", ""))
            parts.append(player.html(src=_esc(video["path"]), poster=_esc(video["poster"])))
    if results["metrics"]:
        rows = "".join(
            f"<tr><td>{_esc(m['name'])}</td><td "
            f"class='num'>{_esc(format_value(m['value']))}</td><td>{_esc(m.get('unit', ''))}</td>"
            f"<td>{_badge(m.get('source', 'measured'))}</td><td>{_esc(m.get('note', ''))}</td></tr>"
            for m in results["metrics"]
        )
        parts.append(
            "<h3>Key numbers</h3><table><thead><tr><th>metric</th><th>value</th><th>unit</th><th>source</th>"
            f"<th>note</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    for table in results["tables"]:
        parts.append(f"<h3>{_esc(table['name'])} {_badge(table.get('source', 'measured'))}</h3>")
        if table.get("caption"):
            parts.append(f"<p class='caption'>{_esc(table['caption'])}</p>")
        parts.append(_rows_table(table["rows"]))
    for fig in results["figures"]:
        parts.append(
            f'<figure><img src="{_esc(fig["path"])}" '
            f'alt="{_esc(fig["name"])}"><figcaption>{_esc(fig.get("caption") or fig["name"])}</figcaption></figure>'
        )
    if status in ("executed", "reused") and not any(results.values()):
        parts.append("<p class='caption'>This step recorded no results.</p>")
    parts.append("</section>")
    return "".join(parts)


def write_index(run_dir: Path) -> Path:
    """(Re)write ``index.html`` of a run folder from ``run.json`` and the steps' ``results.json``."""
    meta = read_json(run_dir / "run.json")
    records = {r["step"]: r for r in meta.get("steps", [])}
    versions = meta.get("versions", {})
    machine = meta.get("machine", {})
    overview = _kv_table(
        [
            ("run", _esc(meta.get("run_id", run_dir.name))),
            (
                "profile",
                f"{_esc(meta.get('profile'))} <span class='caption'>{_esc(meta.get('profile_description', ''))}</span>",
            ),
            ("commit", f"<code>{_esc(meta.get('git_commit'))}</code>"),
            ("started (UTC)", _esc(meta.get("started"))),
            ("wall time", _esc(f"{meta.get('wall_time_s', 0):.1f} s")),
            (
                "machine",
                _esc(
                    f"{machine.get('processor')} · {machine.get('cpu_count')} CPUs · torch threads "
                    f"{machine.get('torch_threads')} · GPU: {machine.get('cuda')}"
                ),
            ),
            ("platform", _esc(machine.get("platform"))),
            ("kernel", _esc(meta.get("kernel"))),
            ("reproduce", f"<code>{_esc(meta.get('command', ''))}</code>"),
        ]
    )
    step_rows = []
    for step in STEPS:
        rec = records.get(step.id)
        if rec is None:
            continue
        seed = meta.get("params", {}).get(step.id, {}).get("seed", "")
        detail = ""
        if rec.get("reused_from"):
            step_meta = run_dir / "artifacts" / step.id / "meta.json"
            executed_s = read_json(step_meta).get("wall_time_s") if step_meta.is_file() else None
            detail = f"from run {rec['reused_from']}" + (
                f" (executed there in {executed_s:.1f} s)" if executed_s is not None else ""
            )
        step_rows.append(
            f"<tr><td><a href='#{step.id}'>{_esc(step.id)}</a></td><td>{_badge(rec['status'])}</td>"
            f"<td class='num'>{rec.get('wall_time_s', 0):.1f} s</td><td "
            f"class='num'>{_esc(seed)}</td><td>{_esc(detail)}</td></tr>"
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
    versions_html = _kv_table([(k, _esc(v)) for k, v in versions.items()])
    sections = "".join(_step_section(run_dir, s.id, s.title, records.get(s.id)) for s in STEPS if s.id in records)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>scenecolor run {_esc(meta.get("run_id", run_dir.name))}</title><style>{_CSS}</style></head><body>
<header><h1>scenecolor &mdash; run {_esc(meta.get("run_id", run_dir.name))}</h1>
<p>Scene-aware, reference-based video colorization workbook. Every number below is
<span class="badge measured">measured</span> in this run unless marked <span class="badge quoted">quoted</span>
from the paper.</p></header>
<main>
<section><h2>Run</h2>{overview}<h3>Steps</h3>{steps_table}
<details><summary>Parameters of every step</summary>{params_html}</details>
<details><summary>Package versions</summary>{versions_html}</details></section>
{sections}
</main></body></html>"""
    return atomic_write_text(run_dir / "index.html", page)
