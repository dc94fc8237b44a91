"""Whether the paper's claims and our targets hold in a run, computed from its ``results.json`` files.

The top of a run's ``index.html`` answers one question per claim: what the paper quotes, what
this run measured, what the best baseline measured in the same run, and whether the claim (or
our own target) is met. :data:`RULES` says, for each row, which step and metric hold the
number, which metrics are its baselines and how the two are compared; the paper's figures come
from :mod:`scenecolor.paper`, never retyped. A claim the run did not measure (a step that did
not run, TensorRT without a GPU) is a row that says so, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scenecolor import paper
from scenecolor.core.artifacts import read_json
from scenecolor.core.errors import DataError
from scenecolor.workbook.labels import format_value, with_unit

Results = dict[str, Any]  # one step's results.json: {"metrics": [...], "tables": [...], ...}
NOT_MEASURED = "not measured in this run"


# -- where a number lives ------------------------------------------------------------------------
@dataclass(frozen=True)
class Value:
    """One number of a run: a metric of a step's results.json, or one cell of one of its tables.

    ``row`` picks a table row as (column, text the cell starts with); ``scale`` converts the
    recorded unit to the row's (1e-3: ms to s).
    """

    metric: str = ""
    label: str = ""
    table: str = ""
    row: tuple[str, str] = ("", "")
    column: str = ""
    scale: float = 1.0

    def read(self, results: Results) -> float | None:
        """The number, or None when the run did not record it (or recorded text)."""
        raw: Any = None
        if self.metric:
            raw = next((m.get("value") for m in results.get("metrics", []) if m.get("name") == self.metric), None)
        elif self.table:
            table = next((t for t in results.get("tables", []) if t.get("name") == self.table), None)
            key, prefix = self.row
            rows = [r for r in (table or {}).get("rows", []) if str(r.get(key, "")).startswith(prefix)]
            raw = rows[0].get(self.column) if rows else None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or math.isnan(raw):
            return None
        return float(raw) * self.scale


@dataclass(frozen=True)
class Rule:
    """One row of the verdict table: a claim of the paper (``kind`` "paper") or a target of ours.

    ``measured`` and ``baselines`` are read from the results.json of ``step``, in ``unit``.
    ``test`` says what "met" means: ``quoted`` - the measured value is at least as good as the
    paper's figure ``quoted``; ``baseline`` - at least ``margin`` better than the best of
    ``baselines``; ``threshold`` - at least as good as ``threshold``; ``none`` - nothing can be
    compared (``why_missing`` says why). ``better`` is the direction ("higher" or "lower"). When
    nothing was measured, the reason shown is the text of the step's metric ``reason_metric``
    (TensorRT's skip reason) if recorded, else ``why_missing``. ``signed`` rows are differences.
    """

    id: str
    kind: Literal["paper", "target"]
    claim: str
    step: str
    measured: Value
    unit: str = ""
    better: Literal["higher", "lower"] = "higher"
    test: Literal["quoted", "baseline", "threshold", "none"] = "quoted"
    quoted: float | str | None = None
    baselines: tuple[Value, ...] = ()
    margin: float = 0.0
    threshold: float | None = None
    note: str = ""
    why_missing: str = ""
    reason_metric: str = ""
    signed: bool = False

    def show(self, value: float) -> str:
        """A value of this row with its unit (and its sign when the row is a change)."""
        text = with_unit(value, self.unit)
        return f"+{text}" if self.signed and value > 0 else text

    def rule_text(self) -> str:
        """How "met" is decided, in words."""
        sign = "≥" if self.better == "higher" else "≤"
        if self.test == "quoted":
            return f"met if {sign} the paper's figure"
        if self.test == "baseline":
            extra = (
                f" {'+' if self.better == 'higher' else '-'} {with_unit(self.margin, self.unit)}" if self.margin else ""
            )
            return f"met if {sign} the best baseline{extra}"
        if self.test == "threshold":
            return f"met if {sign} {with_unit(self.threshold, self.unit)}"
        return "not comparable"

    def target_text(self) -> str:
        """The 'paper / target' cell: the quoted figure, or our target."""
        if self.kind == "paper":
            return with_unit(self.quoted, self.unit) if isinstance(self.quoted, (int, float)) else str(self.quoted)
        return self.rule_text().removeprefix("met if ")


@dataclass(frozen=True)
class Verdict:
    """A rule evaluated on one run: None where nothing was measured (``reason`` says why)."""

    rule: Rule
    measured: float | None
    baseline: tuple[str, float] | None = None
    met: bool | None = None
    reason: str = ""

    @property
    def status(self) -> str:
        """'met', 'not met' or 'not measured'."""
        return "not measured" if self.met is None else "met" if self.met else "not met"


def _ours(pool: str, measure: str, unit: str, better: Literal["higher", "lower"] = "higher") -> dict[str, Any]:
    baselines = tuple(
        Value(f"{key}_{measure}_{pool}", label)
        for key, label in (("welsh", "Welsh"), ("reinhard", "Reinhard"), ("gray", "grey"))
    )
    return {
        "step": "05_evaluation",
        "measured": Value(f"ours_{measure}_{pool}"),
        "unit": unit,
        "better": better,
        "baselines": baselines,
    }


def _scene(measure: str) -> dict[str, Any]:
    peers = tuple(Value(f"{measure} ({name})", name) for name in ("ContentDetector", "AdaptiveDetector"))
    return {"step": "02_scene_analysis", "measured": Value(f"{measure} (ours)"), "baselines": peers}


_RETRIEVAL_BASELINES = ("untrained network", "grey histogram", "HOG on L", "HOG on L, tuned")
_RETRIEVAL = "(grey queries, test vs store, same shot)"
_FLOWS = (("flow_dis", "flow warp (DIS)"), ("flow_farneback", "flow warp (Farneback)"))


def _exemplar(measure: str, unit: str, rivals: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {
        "step": "05_evaluation",
        "measured": Value(f"exemplar_ours_{measure}"),
        "unit": unit,
        "test": "baseline",
        "baselines": tuple(Value(f"exemplar_{key}_{measure}", label) for key, label in rivals),
    }


_SD = paper.SCENE_DETECTION
RULES: tuple[Rule, ...] = (
    # -- the paper's claims ------------------------------------------------------------------------
    Rule("scene_precision", "paper", "Scene cuts: precision", quoted=_SD["precision"], **_scene("precision")),
    Rule("scene_recall", "paper", "Scene cuts: recall", quoted=_SD["recall"], **_scene("recall")),
    Rule("scene_f1", "paper", "Scene cuts: F1", quoted=_SD["f1"], note="paper: four-scene videos", **_scene("f1")),
    Rule(
        "triplet_accuracy",
        "paper",
        "Embedder: triplet accuracy",
        "01_embedder_training",
        Value("validation triplet accuracy"),
        quoted=paper.TRIPLET_ACCURACY,
        baselines=(Value("validation triplet accuracy before training", "untrained network"),),
    ),
    Rule(
        "psnr_in_domain", "paper", "PSNR, in-domain references", quoted=paper.PSNR, **_ours("in_domain", "PSNR", "dB")
    ),
    Rule("psnr_open", "paper", "PSNR, open reference pool", quoted=paper.PSNR, **_ours("open", "PSNR", "dB")),
    Rule("ssim_in_domain", "paper", "SSIM, in-domain references", quoted=paper.SSIM, **_ours("in_domain", "SSIM", "")),
    Rule("ssim_open", "paper", "SSIM, open reference pool", quoted=paper.SSIM, **_ours("open", "SSIM", "")),
    Rule(
        "cdc_in_domain",
        "paper",
        "CDC (temporal), in-domain references",
        test="baseline",
        quoted="no figure in the paper",
        **_ours("in_domain", "CDC", "", "lower"),
    ),
    Rule(
        "cdc_open",
        "paper",
        "CDC (temporal), open reference pool",
        test="baseline",
        quoted="no figure in the paper",
        **_ours("open", "CDC", "", "lower"),
    ),
    Rule(
        "seconds_per_frame",
        "paper",
        "Time per 224x224 frame, 5 references",
        "04_colorizer_training",
        Value("ms per 224x224 frame, 5 refs", scale=1e-3),
        unit="s",
        better="lower",
        quoted=paper.SECONDS_PER_FRAME,
        note="here: this machine's CPU; paper: RTX 3090",
    ),
    Rule(
        "model_size",
        "paper",
        "Model size, float32",
        "04_colorizer_training",
        Value("model size float32"),
        unit="MB",
        better="lower",
        quoted=paper.SIZE_MB,
    ),
    Rule(
        "parameters",
        "paper",
        "Colorizer parameters",
        "04_colorizer_training",
        Value("parameters"),
        better="lower",
        quoted=paper.PARAMS,
    ),
    Rule(
        "tensorrt",
        "paper",
        "Edge: TensorRT engine, time per frame",
        "06_edge_export",
        Value(table="edge_runtimes", row=("runtime", "TensorRT"), column="ms / frame", scale=1e-3),
        unit="s",
        better="lower",
        quoted=f"{paper.EDGE_RUNTIME}, {paper.SECONDS_PER_FRAME} s",
        test="threshold",
        threshold=paper.SECONDS_PER_FRAME,
        reason_metric="tensorrt",
    ),
    Rule(
        "colorizer_accuracy",
        "paper",
        'Colorizer "accuracy"',
        "04_colorizer_training",
        Value(),
        quoted=paper.COLORIZER_ACCURACY,
        test="none",
        why_missing="the paper does not define this accuracy, so nothing comparable can be measured",
    ),
    # -- our targets -------------------------------------------------------------------------------
    Rule(
        "scene_speed",
        "target",
        "Scene cuts: throughput, ours / ContentDetector",
        "02_scene_analysis",
        Value("throughput ours / ContentDetector"),
        unit="x",
        test="threshold",
        threshold=1.0,
    ),
    Rule(
        "scene_decode",
        "target",
        "Scene cuts: time, ours / decoding alone",
        "02_scene_analysis",
        Value("time ours / decode only"),
        unit="x",
        better="lower",
        test="threshold",
        threshold=2.0,
    ),
    Rule(
        "embedder_map",
        "target",
        "Retrieval: mAP of the trained embedder",
        "03_reference_selection",
        Value(f"mAP trained embedder {_RETRIEVAL}"),
        test="baseline",
        margin=0.03,
        baselines=tuple(Value(f"mAP {name} {_RETRIEVAL}", name) for name in _RETRIEVAL_BASELINES),
        note="grey test queries against the store, relevant = same shot",
    ),
    Rule(
        "embedder_p1",
        "target",
        "Retrieval: P@1 of the trained embedder",
        "03_reference_selection",
        Value(f"P@1 trained embedder {_RETRIEVAL}"),
        test="baseline",
        baselines=tuple(Value(f"P@1 {name} {_RETRIEVAL}", name) for name in _RETRIEVAL_BASELINES),
    ),
    Rule(
        "exemplar_psnr",
        "target",
        "Exemplar protocol: PSNR over the flow warp",
        margin=1.0,
        **_exemplar("PSNR", "dB", _FLOWS),
    ),
    Rule(
        "exemplar_paste",
        "target",
        "Exemplar protocol: PSNR over paste",
        **_exemplar("PSNR", "dB", (("paste", "paste"),)),
    ),
    Rule("exemplar_ssim", "target", "Exemplar protocol: SSIM against the flow warp", **_exemplar("SSIM", "", _FLOWS)),
    Rule(
        "exemplar_cdc",
        "target",
        "Exemplar protocol: CDC against the flow warp",
        better="lower",
        **_exemplar("CDC", "", _FLOWS),
    ),
    Rule(
        "worst_scene_vs_grey",
        "target",
        "Worst scene of either pool: PSNR, ours minus grey",
        "05_evaluation",
        Value("worst_scene_PSNR_vs_grey"),
        unit="dB",
        signed=True,
        test="threshold",
        threshold=-1.0,
        note="every scene of both reference pools scored on its own frames; grey output is ab = 0",
    ),
    Rule(
        "int8_speed",
        "target",
        "Edge: int8 speed-up over torch fp32",
        "06_edge_export",
        Value("int8_speedup_vs_torch"),
        unit="x",
        test="threshold",
        threshold=2.0,
    ),
    Rule(
        "int8_psnr",
        "target",
        "Edge: int8 PSNR change (int8 minus fp32)",
        "06_edge_export",
        Value("int8_psnr_change"),
        unit="dB",
        signed=True,
        test="threshold",
        threshold=-0.3,
    ),
    Rule(
        "int8_file",
        "target",
        "Edge: int8 file size",
        "06_edge_export",
        Value("int8_file_mb"),
        unit="MB",
        better="lower",
        test="threshold",
        threshold=4.0,
    ),
    Rule(
        "onnx_parity",
        "target",
        "Edge: ONNX colorizer against torch, max |ab| difference",
        "06_edge_export",
        Value("colorizer_onnx_max_abs_err"),
        better="lower",
        test="threshold",
        threshold=1e-3,
    ),
)


# -- reading a run -----------------------------------------------------------------------------
def read_results(path: Path) -> Results:
    """One step's ``results.json`` (an empty record when the file is absent); DataError names a broken file."""
    empty: Results = {"metrics": [], "tables": [], "figures": [], "videos": []}
    if not path.is_file():
        return empty
    try:
        data = read_json(path)
    except ValueError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); rerun its step to rewrite it") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k, []), list) for k in empty):
        raise DataError(f"{path}: expected an object with lists 'metrics', 'tables', 'figures', 'videos'")
    entries = [e for k in empty for e in data.get(k, [])]
    if not all(isinstance(e, dict) and "name" in e for e in entries) or not all(
        isinstance(t.get("rows"), list) and all(isinstance(r, dict) for r in t["rows"]) for t in data.get("tables", [])
    ):
        raise DataError(
            f"{path}: every metric, table, figure and video needs a name, every table a list of row objects"
        )
    return {**empty, **data}


def run_results(run_dir: Path, steps: list[str]) -> dict[str, Results]:
    """``results.json`` of each step of ``steps`` that wrote one in ``run_dir``."""
    out = {}
    for step in steps:
        path = Path(run_dir) / "artifacts" / step / "results.json"
        if path.is_file():
            out[step] = read_results(path)
    return out


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0].rstrip(".")
    return head[:200]


def evaluate(rule: Rule, results: Mapping[str, Results]) -> Verdict:
    """Apply one rule to a run's results (step id -> results.json)."""
    step = results.get(rule.step)
    if step is None:
        return Verdict(rule, None, reason=f"{NOT_MEASURED}: step {rule.step} did not run")
    if rule.test == "none":
        return Verdict(rule, None, reason=f"{NOT_MEASURED}: {rule.why_missing}")
    measured = rule.measured.read(step)
    if measured is None:
        said = next((m.get("value") for m in step["metrics"] if m.get("name") == rule.reason_metric), None)
        why = _first_sentence(str(said)) if said else rule.why_missing or f"{rule.step} recorded no value for it"
        return Verdict(rule, None, reason=f"{NOT_MEASURED}: {why}")
    found = [(b.label, v) for b in rule.baselines if (v := b.read(step)) is not None]
    pick = max if rule.better == "higher" else min
    best = pick(found, key=lambda item: item[1]) if found else None
    sign = 1.0 if rule.better == "higher" else -1.0
    met: bool | None
    if rule.test == "quoted":
        met = sign * (measured - float(rule.quoted)) >= 0  # type: ignore[arg-type]
    elif rule.test == "threshold":
        met = sign * (measured - float(rule.threshold)) >= 0  # type: ignore[arg-type]
    elif best is None:
        return Verdict(rule, measured, None, None, f"{NOT_MEASURED}: no baseline of {rule.step} was recorded")
    else:
        met = sign * (measured - best[1]) >= rule.margin
    return Verdict(rule, measured, best, bool(met))


def verdicts(run_dir: Path, steps: list[str]) -> list[Verdict]:
    """Every rule of :data:`RULES` applied to the run in ``run_dir``."""
    results = run_results(run_dir, steps)
    return [evaluate(rule, results) for rule in RULES]


# -- the run's headline results, one sentence each ------------------------------------------------
def _v(rows: Mapping[str, Verdict], rule_id: str, missing: str = NOT_MEASURED) -> str:
    row = rows[rule_id]
    return missing if row.measured is None else row.rule.show(row.measured)


def _best(row: Verdict) -> str:
    """'HOG on L, tuned: 0.9449' (the best baseline's name and value)."""
    if row.baseline is None:
        return "none measured"
    return f"{row.baseline[0]}: {with_unit(row.baseline[1], row.rule.unit)}"


def _gap(row: Verdict) -> str:
    if row.measured is None or row.baseline is None:
        return "no baseline"
    return f"{row.measured - row.baseline[1]:+.3f}{' ' + row.rule.unit if row.rule.unit else ''}"


def _ahead(row: Verdict) -> str:
    if row.measured is None or row.baseline is None:
        return "not compared"
    gap = (1 if row.rule.better == "higher" else -1) * (row.measured - row.baseline[1])
    return "ahead of" if gap > 0 else "behind" if gap < 0 else "level with"


def headlines(found: list[Verdict]) -> list[tuple[str, str, str]]:
    """Five (topic, sentence, step id) rows stating this run's main results from its verdicts."""
    rows = {v.rule.id: v for v in found}

    def sentence(main: str, text: Any) -> str:
        row = rows[main]
        return f"{row.reason[:1].upper()}{row.reason[1:]}." if row.measured is None else text()

    f1, emb, spf, trt = rows["scene_f1"], rows["embedder_map"], rows["seconds_per_frame"], rows["tensorrt"]
    psnr_in, psnr_open = rows["psnr_in_domain"], rows["psnr_open"]
    scene = sentence(
        "scene_f1",
        lambda: (
            f"Our detector's F1 is {_v(rows, 'scene_f1')} (precision {_v(rows, 'scene_precision')}, recall "
            f"{_v(rows, 'scene_recall')}) on this run's test videos, {_ahead(f1)} the best "
            f"PySceneDetect detector ({_best(f1)}); "
            f"the paper quotes {format_value(paper.SCENE_DETECTION['f1'])} on its own four-scene videos."
        ),
    )
    retrieval = sentence(
        "embedder_map",
        lambda: (
            f"The trained embedder's mAP is {_v(rows, 'embedder_map')} against the best baseline ({_best(emb)}), "
            f"{_gap(emb)}, so the +{format_value(emb.rule.margin)} target is {emb.status}; its triplet accuracy is "
            f"{_v(rows, 'triplet_accuracy')} (paper ~{format_value(paper.TRIPLET_ACCURACY)})."
        ),
    )
    quality = sentence(
        "psnr_in_domain",
        lambda: (
            f"With in-domain references ours reaches {_v(rows, 'psnr_in_domain')} PSNR, {_ahead(psnr_in)} the best "
            f"baseline ({_best(psnr_in)}); with the open pool {_v(rows, 'psnr_open')}, {_ahead(psnr_open)} the best "
            f"baseline ({_best(psnr_open)}); the paper quotes {format_value(paper.PSNR)} dB."
        ),
    )
    speed = sentence(
        "seconds_per_frame",
        lambda: (
            f"{_v(rows, 'seconds_per_frame')} per 224x224 frame on this machine against "
            f"{format_value(paper.SECONDS_PER_FRAME)} s quoted on an RTX 3090 ({spf.status}); "
            f"{_v(rows, 'parameters')} parameters and {_v(rows, 'model_size')} against the paper's "
            f"{format_value(paper.PARAMS)} and {format_value(paper.SIZE_MB)} MB."
        ),
    )
    edge = sentence(
        "int8_speed",
        lambda: (
            f"int8 ONNX Runtime runs at {_v(rows, 'int8_speed')} the speed of torch fp32 "
            f"({format_value(rows['int8_speed'].rule.threshold)}x target {rows['int8_speed'].status}), "
            f"{_v(rows, 'int8_file')} on disk, PSNR change {_v(rows, 'int8_psnr')}; TensorRT: "
            + (trt.reason if trt.measured is None else f"{_v(rows, 'tensorrt')} per frame")
            + "."
        ),
    )
    return [
        ("Scene cuts", scene, "02_scene_analysis"),
        ("Reference retrieval", retrieval, "03_reference_selection"),
        ("Colorization quality", quality, "05_evaluation"),
        ("Speed and size", speed, "04_colorizer_training"),
        ("Edge export", edge, "06_edge_export"),
    ]
