"""The run's index page: verdict first, computed from results.json; folded volume; one number format.

Every test builds a small fake run folder (run.json, artifacts/<step>/results.json + meta.json, an
executed notebook) and renders its index. Two checks also read a real run folder when one is at
hand: $SCENECOLOR_REPORT_RUN, else the checkout's reports/latest (skipped otherwise); its index is
written into a copy, never into the run itself. The page height is measured with headless
Chromium when it is installed (`apt-get install -y chromium`).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from scenecolor import paper
from scenecolor.core.errors import DataError
from scenecolor.workbook import labels, report, verdict
from scenecolor.workbook.pipeline import STEPS

MAX_HEIGHT_PX = 12_000
WIDTH_PX = 1400

# -- a fake run ----------------------------------------------------------------------------------
RETRIEVAL = "(grey queries, test vs store, same shot)"


def _metric(name: str, value: Any, unit: str = "", source: str = "measured", note: str = "") -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "source": source, "note": note}


def _table(name: str, rows: list[dict[str, Any]], source: str = "measured", caption: str = "") -> dict[str, Any]:
    return {"name": name, "caption": caption, "source": source, "rows": rows}


def fake_results(f1_ours: float = 0.9231) -> dict[str, dict[str, Any]]:
    """results.json of every step, with the names the notebooks record and a few awkward values."""
    sd = paper.SCENE_DETECTION
    scene_metrics = [
        _metric("precision (ours)", 1.0),
        _metric("recall (ours)", 0.8571),
        _metric("f1 (ours)", f1_ours),
        *[_metric(f"{m} ({d})", v) for d in ("ContentDetector", "AdaptiveDetector") for m, v in (("precision", 1.0),
          ("recall", 0.8), ("f1", 0.889 if d == "ContentDetector" else 0.9))],
        *[_metric(f"{m} (paper)", sd[m], source="quoted") for m in ("precision", "recall", "f1")],
        *[_metric(f"false cuts: ours (clip {i})", i) for i in range(12)],
        _metric("throughput ours / ContentDetector", 1.337, "x"),
        _metric("time ours / decode only", 1.692, "x"),
    ]  # fmt: skip
    long_rows = [{"k": i, "f1": 0.5 + i / 100} for i in range(15)]
    scene_tables = [
        _table("cut_scores", [{"detector": "ours", "f1": f1_ours, "map": 1.0}, {"detector": "ContentDetector",
               "f1": 0.889, "map": math.nan}]),
        _table("paper_vs_ours", [{"metric": m, "paper (quoted)": sd[m], "ours (measured)": 0.9} for m in sd]),
        _table("f1_vs_k", long_rows),
        _table("single_shot_false_cuts", [{"clip": "a", "false cuts: paper's rule alone": 2}]),
    ]  # fmt: skip
    ours = {"ours": (35.94, 0.963, 0.0522), "welsh": (26.4, 0.80, 0.063), "reinhard": (27.9, 0.93, 0.0514)}
    ours["gray"] = (27.5, 0.929, 0.0519)
    eval_metrics = [
        _metric(f"{method}_{measure}_{pool}", v + (0 if pool == "in_domain" else -8.1 * (method == "ours")), unit)
        for method, vals in ours.items()
        for (measure, unit), v in zip((("PSNR", "dB"), ("SSIM", ""), ("CDC", "")), vals)
        for pool in ("in_domain", "open")
    ]
    eval_metrics += [
        _metric("paper_PSNR", paper.PSNR, "dB", "quoted"),
        _metric("colorizer_parameters", 1_900_552, "params"),
        *[_metric(f"exemplar_{m}_PSNR", v, "dB") for m, v in (("ours", 32.97), ("flow_dis", 32.91),
          ("flow_farneback", 32.82), ("paste", 29.74))],
        *[_metric(f"exemplar_{m}_{x}", v) for m in ("ours", "flow_dis", "flow_farneback") for x, v in (("SSIM", 0.96),
          ("CDC", 0.0433))],
    ]  # fmt: skip
    eval_tables = [
        _table("table_iv_paper", paper.PAPER_TABLE_IV.to_dict(orient="records"), "quoted"),
        _table(
            "table_v",
            [{"method": "ours", "source": "measured", "PSNR": 35.94, "size_MB": 7.63}]
            + [{"method": "paper's method", "source": "quoted, not measured", "PSNR": paper.PSNR, "size_MB": 81.0}],
        ),
        _table("ground_truth_roundtrip", [{"video_id": "bikes", "PSNR": math.inf, "SSIM": 1.0}]),
        _table(
            "upstream_summary",
            [
                {"step": "02_scene_analysis", "name": f"m{i}", "value": i, "unit": "", "source": "measured"}
                for i in range(30)
            ],
        ),
    ]
    speed = pd.DataFrame(
        {"quantity": ["time per frame (ms)", "CPU time (ms)"], "ours": [875.3, 249.4], "paper (quoted)": [2600.0, None]}
    )
    return {
        "00_data_prep": {
            "metrics": [
                _metric("frames_train", 503_304, "frames"),
                _metric("paper_frames", paper.FRAMES, "frames", "quoted"),
            ],
            "tables": [],
            "figures": [],
        },
        "01_embedder_training": {
            "metrics": [
                _metric("validation triplet accuracy", 0.984375),
                _metric("validation triplet accuracy before training", 0.95),
                _metric("paper triplet accuracy", paper.TRIPLET_ACCURACY, source="quoted"),
            ],
            "tables": [],
            "figures": [],
        },
        "02_scene_analysis": {"metrics": scene_metrics, "tables": scene_tables, "figures": []},
        "03_reference_selection": {
            "metrics": [
                _metric(f"{k} {d} {RETRIEVAL}", v)
                for d, p1, ap in (
                    ("trained embedder", 1.0, 0.909),
                    ("HOG on L", 1.0, 0.941),
                    ("grey histogram", 0.96, 0.87),
                )
                for k, v in (("P@1", p1), ("mAP", ap))
            ],
            "tables": [],
            "figures": [],
        },
        "04_colorizer_training": {
            "metrics": [
                _metric("parameters", 1_900_552),
                _metric("parameters (paper)", paper.PARAMS, source="quoted"),
                _metric("model size float32", 7.63, "MB"),
                _metric("ms per 224x224 frame, 5 refs", 875.3, "ms"),
                _metric("colorizer accuracy (paper)", paper.COLORIZER_ACCURACY, source="quoted"),
            ],
            "tables": [
                _table("speed", speed.to_dict(orient="records")),
                _table("validation_by_pool", [{"references": "open", "gain over grey (dB)": 0.4512}]),
            ],
            "figures": [],
        },
        "05_evaluation": {"metrics": eval_metrics, "tables": eval_tables, "figures": []},
        "06_edge_export": {
            "metrics": [
                _metric("tensorrt", "TensorRT skipped: the `tensorrt` package is not installed. Install it on a GPU."),
                _metric("int8_speedup_vs_torch", 1.46, "x"),
                _metric("int8_psnr_change", 0.201, "dB"),
                _metric("int8_file_mb", 3.07, "MB"),
                _metric("colorizer_onnx_max_abs_err", 2.288818359375e-05, "ab"),
                _metric("paper_size_mb", paper.SIZE_MB, "MB", "quoted"),
            ],
            "tables": [
                _table(
                    "edge_runtimes",
                    [
                        {"runtime": "torch fp32 (eager)", "source": "measured", "ms / frame": 320.4},
                        {"runtime": "paper: TensorRT 8.6", "source": "quoted", "ms / frame": 2600.0},
                    ],
                )
            ],
            "figures": [],
        },
    }


SENTENCE = "**This run.** The validation triplet accuracy sat **near the ceiling**; `frame_step` = 10."


def make_run(
    root: Path,
    results: dict[str, dict[str, Any]] | None = None,
    reused: tuple[str, ...] = (),
    original_s: float = 123.4,
) -> Path:
    """A run folder with run.json, each step's results.json and meta.json, and one executed notebook."""
    results = fake_results() if results is None else results
    records = []
    for step_id, res in results.items():
        folder = root / "artifacts" / step_id
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(res))
        (folder / "meta.json").write_text(json.dumps({"step": step_id, "wall_time_s": original_s}))
        records.append(
            {
                "step": step_id,
                "status": "reused" if step_id in reused else "executed",
                "wall_time_s": 0.01 if step_id in reused else 5.0,
                "reused_from": "run-0" if step_id in reused else "",
                "error": "",
            }
        )
    run = {"run_id": "fake", "profile": "smoke", "steps": records, "params": {}, "versions": {}, "machine": {}}
    run["wall_time_s"] = 3.3
    (root / "run.json").write_text(json.dumps(run))
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": "Markdown(prose.embedder_reading(history))",
                "outputs": [{"output_type": "execute_result", "data": {"text/markdown": [SENTENCE]}}],
            }
        ]
    }
    (root / "notebooks").mkdir()
    (root / "notebooks" / "01_embedder_training.ipynb").write_text(json.dumps(nb))
    return root


# -- reading the page --------------------------------------------------------------------------
class Tables(HTMLParser):
    """Each <table>'s class, whether it sits in a <details>, and its rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self.stack: list[dict[str, Any]] = []
        self.details = 0
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "details":
            self.details += 1
        elif tag == "table":
            t = {"class": dict(attrs).get("class", ""), "folded": self.details > 0, "rows": []}
            self.tables.append(t)
            self.stack.append(t)
        elif tag == "tr" and self.stack:
            self.stack[-1]["rows"].append([])
        elif tag in ("td", "th") and self.stack:
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self.details -= 1
        elif tag == "table":
            self.stack.pop()
        elif tag in ("td", "th") and self.stack and self.cell is not None:
            self.stack[-1]["rows"][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def parse(page: str) -> list[dict[str, Any]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


def verdict_rows(page: str) -> dict[str, list[str]]:
    """The verdict table's rows by claim text (its first cell up to the rule sentence)."""
    table = parse(page)[0]
    rows = [r for r in table["rows"][1:] if len(r) == 5]
    claims = {rule.claim: rule for rule in verdict.RULES}
    return {next(c for c in claims if row[0].startswith(c)): row for row in rows}


# -- the verdict -------------------------------------------------------------------------------
def test_the_verdict_table_comes_first_with_one_computed_row_per_rule(tmp_path: Path) -> None:
    page = report.write_index(make_run(tmp_path)).read_text()
    tables = parse(page)
    assert tables[0]["class"] == "verdict" and not tables[0]["folded"]
    rows = verdict_rows(page)
    assert len(rows) == len(verdict.RULES)
    f1 = rows["Scene cuts: F1"]
    assert f1[1] == "0.9905" and f1[2] == "0.9231" and f1[3].startswith("AdaptiveDetector: 0.9") and f1[4] == "not met"
    assert "ours ahead by 0.0231" in f1[3]
    assert rows["PSNR, open reference pool"][3].startswith("Reinhard: 27.9 dB")  # best of Welsh, Reinhard, grey
    assert rows["PSNR, open reference pool"][2] == "27.84 dB" and "ours behind" in rows["PSNR, open reference pool"][3]
    assert rows["Retrieval: mAP of the trained embedder"][4] == "not met"  # 0.909 < HOG 0.941 + 0.03
    assert rows["Edge: int8 PSNR change (int8 minus fp32)"][2] == "+0.201 dB"
    assert rows["Time per 224x224 frame, 5 references"][2] == "0.8753 s"  # 875.3 ms, in the paper's unit
    assert all(cell.strip() for row in rows.values() for cell in row), "a verdict cell is blank"


def test_verdicts_follow_the_run_numbers(tmp_path: Path) -> None:
    page = report.write_index(make_run(tmp_path / "a", fake_results(f1_ours=0.995))).read_text()
    assert verdict_rows(page)["Scene cuts: F1"][4] == "met"
    found = {v.rule.id: v for v in verdict.verdicts(tmp_path / "a", [s.id for s in STEPS])}
    assert found["scene_f1"].measured == pytest.approx(0.995) and found["scene_f1"].met
    assert found["exemplar_psnr"].baseline == ("flow warp (DIS)", 32.91) and not found["exemplar_psnr"].met


def test_claims_the_run_did_not_measure_say_so_with_the_reason(tmp_path: Path) -> None:
    results = fake_results()
    del results["05_evaluation"]
    page = report.write_index(make_run(tmp_path, results)).read_text()
    rows = verdict_rows(page)
    trt = rows["Edge: TensorRT engine, time per frame"]
    assert trt[2] == "not measured in this run: TensorRT skipped: the `tensorrt` package is not installed"
    assert trt[4] == "not measured"
    assert rows["PSNR, in-domain references"][2] == "not measured in this run: step 05_evaluation did not run"
    assert "does not define" in rows['Colorizer "accuracy"'][2]
    lines = parse(page)[1]["rows"]
    assert [r[0] for r in lines] == ["Scene cuts", "Reference retrieval", "Colorization quality", "Speed and size",
                                     "Edge export"]  # fmt: skip
    quality = dict((r[0], r[1]) for r in lines)["Colorization quality"]
    assert quality == "Not measured in this run: step 05_evaluation did not run."
    assert "0.9231" in lines[0][1] and "0.8753 s" in lines[3][1] and "+0.201 dB" in lines[4][1]


def test_a_tensorrt_engine_row_is_read_from_the_runtimes_table(tmp_path: Path) -> None:
    results = fake_results()
    results["06_edge_export"]["tables"][0]["rows"].insert(1, {"runtime": "TensorRT fp16", "ms / frame": 12.5})
    row = verdict_rows(report.write_index(make_run(tmp_path, results)).read_text())[
        "Edge: TensorRT engine, time per frame"
    ]
    assert row[2] == "0.0125 s" and row[4] == "met"


# -- volume --------------------------------------------------------------------------------------
def test_long_tables_extra_key_numbers_and_repeated_upstream_tables_are_folded(tmp_path: Path) -> None:
    page = report.write_index(make_run(tmp_path)).read_text()
    assert "<details open" not in page
    for table in parse(page)[1:]:  # the verdict table stays open
        if len(table["rows"]) > report.MAX_OPEN_ROWS + 1:  # + the header row
            assert table["folded"], table["rows"][:2]
    scene = page[page.index('<section id="02_scene_analysis">') : page.index('<section id="03_reference_selection">')]
    shown = parse(scene)[0]
    assert not shown["folded"] and len(shown["rows"]) - 1 <= report.MAX_KEY_NUMBERS
    n = len(fake_results()["02_scene_analysis"]["metrics"])
    assert n > report.MAX_KEY_NUMBERS and f"All {n} key numbers of this step</summary>" in scene
    evaluation = page[page.index('<section id="05_evaluation">') :]
    assert "Upstream summary: 30 key numbers of steps" in evaluation and "m29" not in evaluation


def test_names_units_and_one_number_format(tmp_path: Path) -> None:
    assert labels.display_name("ours_CDC_open") == "Ours, CDC, open pool"
    assert labels.display_name("exemplar_flow_farneback_PSNR") == "Exemplar protocol: Flow warp (Farneback), PSNR"
    assert labels.display_name("store_size_mb") == "Store size MB"  # unknown snake_case: humanised
    assert labels.display_name("f1 (ours)") == "F1 (ours)" and labels.display_name("mAP x") == "mAP x"
    assert (
        labels.display_unit("false cuts: ours (clip 1)", "") == "cuts" and labels.display_unit("f1 (ours)", "") == "0-1"
    )
    fv = labels.format_value
    assert [fv(503_304), fv(3.2e6), fv(35.944814), fv(0.0522070), fv(875.3), fv(7453.7), fv(1.0)] == [
        "503,304", "3,200,000", "35.94", "0.05221", "875.3", "7,454", "1"
    ]  # fmt: skip
    assert [fv(2.288818359375e-05), fv(math.nan), fv(None), fv(math.inf), fv(-0.45000124)] == [
        "2.29e-05", "-", "-", "∞", "-0.45"
    ]  # fmt: skip
    page = report.write_index(make_run(tmp_path)).read_text()
    assert ">503,304<" in page and ">3,200,000<" in page and "e+0" not in page and ">nan<" not in page
    assert "title='identical images: PSNR is infinite'>∞ identical<" in page
    assert "title='no value: not defined or not recorded for this row'>-<" in page
    assert "title='no figure printed by the source'>-<" in page  # the speed table's empty paper cell
    assert ">Ours, CDC, open pool<" in page and ">+0.4512<" in page  # a gain keeps its sign


def test_badges_mark_quoted_and_mixed_tables(tmp_path: Path) -> None:
    results = fake_results()
    by_name = {t["name"]: t for step in results.values() for t in step["tables"]}
    assert labels.table_badge(by_name["table_iv_paper"]) == "quoted"
    for name in ("paper_vs_ours", "table_v", "speed", "edge_runtimes"):
        assert labels.table_badge(by_name[name]) == "mixed", name
    for name in ("cut_scores", "single_shot_false_cuts", "ground_truth_roundtrip"):
        assert labels.table_badge(by_name[name]) == "measured", name  # "paper's rule alone" is ours
    page = report.write_index(make_run(tmp_path)).read_text()
    assert re.search(r"<b>Paper vs ours</b> \(4 rows\) <span class=\"badge mixed\">", page)
    assert re.search(r"<b>Table IV of the paper</b> \(10 rows\) <span class=\"badge quoted\">", page)
    assert "<td class='num q'>2,600</td>" in page  # the quoted cell of a mixed table is shaded


def _quoted_numbers() -> set[float]:
    """Every float the paper prints (and its ms / millions forms): a value equal to one is quoted.

    The settings the paper names (its k, its frame size) are parameters a run may use, not results.
    Shares that a count over a few items lands on by chance (k/n for n <= 8: 0.25, 0.5, ...) are left
    out: a real run's separation accuracy of 0.25 (a share of a few anchors) is measured, not the paper's 0.25.
    """
    found: set[float] = set()
    for name, value in vars(paper).items():
        if name in ("SCENE_K", "RESOLUTION"):
            continue
        if isinstance(value, pd.DataFrame):
            found |= {float(v) for v in value.select_dtypes("number").to_numpy().ravel() if isinstance(v, float)}
        elif isinstance(value, dict):
            found |= {float(v) for v in value.values() if isinstance(v, float)}
        elif isinstance(value, float):
            found |= {value, value * 1e3, value / 1e6}
    return {v for v in found if not math.isnan(v) and not (v.is_integer() and v < 50) and not _small_fraction(v)}


def _small_fraction(v: float) -> bool:
    """True for a share in (0, 1) equal to k/n with n <= 8."""
    return 0 < v < 1 and any(abs(v * n - round(v * n)) < 1e-9 for n in range(2, 9))


def _real_run() -> Path | None:
    env = os.environ.get("SCENECOLOR_REPORT_RUN")
    run = Path(env) if env else Path(__file__).resolve().parents[2] / "reports" / "latest"
    return run if (run / "run.json").is_file() else None


def _copy_run(src: Path, dst: Path) -> Path:
    """What the index reads of a run (run.json, notebooks, results, meta, figures, videos), copied."""
    dst.mkdir(parents=True)
    shutil.copy2(src / "run.json", dst / "run.json")
    if (src / "notebooks").is_dir():
        shutil.copytree(src / "notebooks", dst / "notebooks")
    for step in (src / "artifacts").iterdir():
        out = dst / "artifacts" / step.name
        out.mkdir(parents=True)
        for name in ("results.json", "meta.json"):
            if (step / name).is_file():
                shutil.copy2(step / name, out / name)
        for folder in ("figures", "videos"):
            if (step / folder).is_dir():
                shutil.copytree(step / folder, out / folder)
    return dst


def _no_quoted_value_badged_measured(run_dir: Path) -> int:
    """Walk every metric and table cell of the run: a number the paper prints must be shown quoted."""
    quoted = _quoted_numbers()
    page = report.write_index(run_dir).read_text()
    checked = 0
    for results_path in sorted((run_dir / "artifacts").glob("*/results.json")):
        results = json.loads(results_path.read_text())
        for m in results["metrics"]:
            if isinstance(m["value"], float) and m["value"] in quoted:
                checked += 1
                assert labels.metric_is_quoted(m), f"{results_path}: metric {m['name']} holds a quoted value"
                row = re.search(rf"title='{re.escape(html.escape(m['name']))}'>.*?</tr>", page)
                assert row and 'badge quoted"' in row[0], m["name"]
        for t in results["tables"]:
            src = labels.table_source(t)
            for i, r in enumerate(t["rows"]):
                for c, v in r.items():
                    if isinstance(v, float) and v in quoted:
                        checked += 1
                        assert src.cell(i, c), f"{results_path}: table {t['name']}, row {i}, column {c} = {v}"
                        assert labels.table_badge(t) in ("quoted", "mixed"), t["name"]
            title = re.escape(html.escape(labels.display_name(t["name"])))
            shown = re.search(rf"(<b>{title}</b> \(\d+ rows\)|<h3>{title}) <span class=\"badge (\w+)\"", page)
            if shown:
                assert shown[2] == labels.table_badge(t), t["name"]
    return checked


def test_no_quoted_value_is_badged_measured(tmp_path: Path) -> None:
    assert _no_quoted_value_badged_measured(make_run(tmp_path)) >= 20


def test_no_quoted_value_of_a_real_run_is_badged_measured(tmp_path: Path) -> None:
    run = _real_run()
    if run is None:
        pytest.skip("no real run folder: set SCENECOLOR_REPORT_RUN or run `scenecolor run` (reports/latest)")
    assert _no_quoted_value_badged_measured(_copy_run(run, tmp_path / "run")) > 0


# -- header, sentences and broken inputs ---------------------------------------------------------------
def test_a_reused_step_shows_the_time_of_its_original_execution(tmp_path: Path) -> None:
    page = report.write_index(make_run(tmp_path, reused=("02_scene_analysis",), original_s=123.4)).read_text()
    steps = next(t for t in parse(page) if t["rows"] and t["rows"][0][:3] == ["step", "status", "time"])
    row = next(r for r in steps["rows"] if r[0] == "02_scene_analysis")
    assert row[1:3] == ["reused", "123.4 s"] and "reused from run run-0" in row[4]
    assert "3.3 s for this run; 1 reused step(s) took 123.4 s when executed" in page
    assert "123.4 s (reused)" in page


def test_a_section_opens_with_the_sentences_its_notebook_computed(tmp_path: Path) -> None:
    page = report.write_index(make_run(tmp_path)).read_text()
    section = page[page.index('<section id="01_embedder_training">') :]
    reading = section.index("<div class='reading'>")
    assert reading < section.index("<table")
    assert "<strong>This run.</strong> The validation triplet accuracy sat <strong>near the ceiling</strong>" in section
    assert "<code>frame_step</code>" in section


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "is not valid JSON"),
        ('["a list"]', "expected an object"),
        ('{"metrics": 3}', "expected an object"),
        ('{"metrics": [{"value": 3}]}', "needs a name"),
        ('{"tables": [{"name": "t", "rows": [1, 2]}]}', "list of row objects"),
    ],
)
def test_a_broken_results_file_is_named_and_the_old_index_kept(tmp_path: Path, text: str, match: str) -> None:
    run = make_run(tmp_path)
    report.write_index(run)
    before = (run / "index.html").read_text()
    (run / "artifacts" / "04_colorizer_training" / "results.json").write_text(text)
    with pytest.raises(DataError, match=match) as err:
        report.write_index(run)
    assert "04_colorizer_training/results.json" in str(err.value)
    assert (run / "index.html").read_text() == before


def test_a_folder_without_run_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is .* a run folder"):
        report.write_index(tmp_path)
    assert not (tmp_path / "index.html").exists()


def test_every_rule_reads_a_step_of_the_workbook() -> None:
    ids = {s.id for s in STEPS}
    assert all(rule.step in ids for rule in verdict.RULES)
    assert all(isinstance(r.quoted, float) for r in verdict.RULES if r.test == "quoted")
    assert all(r.threshold is not None for r in verdict.RULES if r.test == "threshold")
    assert all(r.baselines for r in verdict.RULES if r.test == "baseline")
    assert len({rule.id for rule in verdict.RULES}) == len(verdict.RULES)
    assert set(report.HEADLINE_METRICS) <= ids and set(report.OPEN_TABLES) <= ids


# -- page height (headless Chromium) ------------------------------------------------------------
def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def page_height(index: Path, width: int = WIDTH_PX) -> int:
    """The height (px) of ``index`` at ``width`` with every <details> closed, laid out by headless Chromium."""
    browser = _chromium()
    assert browser is not None
    probe = index.with_name(".height-probe.html")
    script = (
        "<script>window.addEventListener('load',()=>{document.querySelectorAll('details').forEach(d=>d.open=false);"
        "document.body.setAttribute('data-height',document.documentElement.scrollHeight)})</script>"
    )
    probe.write_text(index.read_text().replace("</body>", script + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
        command = [browser, *flags, f"--user-data-dir={profile}", f"--window-size={width},900"]
        command += ["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()]
        dom = subprocess.run(command, capture_output=True, text=True, timeout=180).stdout
    probe.unlink()
    found = re.search(r'data-height="(\d+)"', dom)
    assert found, "Chromium did not lay the page out"
    return int(found[1])


def _need_chromium() -> None:
    if _chromium() is None:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium)")


@pytest.mark.slow
def test_the_page_of_a_fake_run_fits_in_12000_px(tmp_path: Path) -> None:
    _need_chromium()
    assert 1000 < page_height(report.write_index(make_run(tmp_path))) <= MAX_HEIGHT_PX


@pytest.mark.slow
def test_the_page_of_a_real_run_fits_in_12000_px(tmp_path: Path) -> None:
    _need_chromium()
    run = _real_run()
    if run is None:
        pytest.skip("no real run folder: set SCENECOLOR_REPORT_RUN or run `scenecolor run` (reports/latest)")
    height = page_height(report.write_index(_copy_run(run, tmp_path / "run")))
    assert height <= MAX_HEIGHT_PX, f"{run}: index.html is {height} px tall at {WIDTH_PX} px"
