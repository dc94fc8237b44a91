"""Steps, the run folder and the per-step context every notebook opens.

A step is one numbered notebook. ``open_step`` validates the notebook's parameters, seeds every
generator and returns a :class:`StepContext` that knows where the step writes (``ctx.out``),
where its upstream steps wrote (``ctx.upstream``) and how to record results for the run's index
page. ``ctx.finish()`` writes ``meta.json`` last: its presence is what marks a step complete.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import ValidationError

from scenecolor.core.artifacts import atomic_path, atomic_write_json, digest_of, read_json, sha256_tree
from scenecolor.core.errors import MissingUpstreamError, ParameterError, parameter_error
from scenecolor.core.paths import checkout_root, repo_root
from scenecolor.core.video import read_frames
from scenecolor.workbook import params as P


@dataclass(frozen=True)
class Step:
    """One notebook of the workbook and what it reads."""

    id: str
    title: str
    params_model: type[P.StepParams]
    upstream: tuple[str, ...] = ()

    @property
    def number(self) -> str:
        return self.id[:2]

    @property
    def notebook(self) -> str:
        return f"{self.id}.ipynb"


STEPS: tuple[Step, ...] = (
    Step("00_data_prep", "Data preparation", P.DataPrepParams),
    Step("01_embedder_training", "Embedder training", P.EmbedderParams, ("00_data_prep",)),
    Step("02_scene_analysis", "Scene analysis", P.SceneAnalysisParams, ("00_data_prep",)),
    Step(
        "03_reference_selection",
        "Reference selection",
        P.ReferenceSelectionParams,
        ("00_data_prep", "01_embedder_training", "02_scene_analysis"),
    ),
    Step(
        "04_colorizer_training",
        "Colorizer training",
        P.ColorizerParams,
        ("00_data_prep", "03_reference_selection"),
    ),
    Step(
        "05_evaluation",
        "Evaluation",
        P.EvaluationParams,
        ("00_data_prep", "02_scene_analysis", "03_reference_selection", "04_colorizer_training"),
    ),
    Step(
        "06_edge_export",
        "Edge export",
        P.EdgeExportParams,
        ("00_data_prep", "01_embedder_training", "03_reference_selection", "04_colorizer_training"),
    ),
)
STEP_BY_ID: dict[str, Step] = {s.id: s for s in STEPS}
TRACKED_PACKAGES = (
    "scenecolor",
    "torch",
    "torchvision",
    "numpy",
    "scikit-image",
    "pandas",
    "faiss-cpu",
    "av",
    "scenedetect",
    "onnx",
    "onnxruntime",
    "papermill",
    "matplotlib",
    "pydantic",
)


def get_step(step_id: str) -> Step:
    """Look a step up by id (``02_scene_analysis``) or number (``02``)."""
    if step_id in STEP_BY_ID:
        return STEP_BY_ID[step_id]
    for step in STEPS:
        if step.number == step_id:
            return step
    known = ", ".join(s.id for s in STEPS)
    raise ParameterError(f"unknown step '{step_id}'; known steps: {known}")


def step_folder(run_dir: Path, step_id: str) -> Path:
    """The artifact folder of step ``step_id`` in a run folder (``artifacts/<step>``)."""
    return Path(run_dir) / "artifacts" / get_step(step_id).id


def default_run_dir() -> Path:
    """Where a notebook run by hand writes: $SCENECOLOR_RUN_DIR, else <repo>/reports/notebooks-default."""
    env = os.environ.get("SCENECOLOR_RUN_DIR")
    if env:
        return Path(env)
    root = checkout_root()
    if root is None:
        return Path.home() / ".cache" / "scenecolor" / "notebooks-default"
    return root / "reports" / "notebooks-default"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so the same parameters give the same numbers."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency, kept optional here
        return
    torch.manual_seed(seed)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages whose behaviour the numbers depend on."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(root: Path | None = None) -> str:
    """The checkout's commit (with ``+dirty`` when it has uncommitted changes), or 'unknown'."""
    cwd = root or repo_root() or Path.cwd()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    """A short description of the machine the numbers were measured on."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:  # pragma: no cover
        pass
    return info


def validate_params(step_id: str, values: dict[str, Any]) -> P.StepParams:
    """Validate ``values`` against the step's model; the error names the key and the notebook."""
    step = get_step(step_id)
    try:
        return step.params_model(**values)
    except ValidationError as exc:
        raise parameter_error(exc, step.notebook, step.params_model.model_fields) from None


class SavedFile(type(Path())):  # type: ignore[misc]
    """The path of a file a step saved; a notebook cell ending with it shows nothing (the figure is the output)."""

    def _ipython_display_(self) -> None:
        return None


def write_poster(video: Path, poster: Path, at: float = 0.5) -> Path:
    """Write the frame at ``at`` (0..1) of ``video``'s length as a PNG poster, atomically."""
    frames = read_frames(video)
    frame = frames[min(len(frames) - 1, max(0, round(at * (len(frames) - 1))))]
    with atomic_path(poster) as tmp:
        Image.fromarray(frame).save(tmp, format="PNG")
    return poster


@dataclass(frozen=True)
class VideoPlayer:
    """An mp4 shown as an HTML5 ``<video>`` with its poster, embedded so it plays in JupyterLab and in the HTML.

    Shown at its native size (never scaled up, so never pixelated), shrunk only to fit the page width."""

    path: Path
    poster: Path
    caption: str = ""
    max_embed_bytes: int = 12_000_000

    def html(self, src: str | None = None, poster: str | None = None) -> str:
        """The player; ``src``/``poster`` default to the files embedded as data URIs."""
        import base64
        import html

        if src is None:
            if self.path.stat().st_size > self.max_embed_bytes:
                return (
                    f"<p>{html.escape(self.path.name)} is too large to embed "
                    f"({self.path.stat().st_size / 1e6:.1f} MB); open <code>{html.escape(str(self.path))}</code></p>"
                )
            src = "data:video/mp4;base64," + base64.b64encode(self.path.read_bytes()).decode()
        if poster is None:
            poster = "data:image/png;base64," + base64.b64encode(self.poster.read_bytes()).decode()
        caption = f"<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        return (
            f'<figure><video controls loop muted playsinline preload="metadata" poster="{poster}" '
            f'style="max-width:100%;height:auto"><source src="{src}" type="video/mp4">'
            f"your browser cannot play H.264 mp4: {html.escape(self.path.name)}</video>{caption}</figure>"
        )

    def _repr_html_(self) -> str:
        return self.html()


class StepMeta(dict):
    """``meta.json`` as :meth:`StepContext.finish` wrote it; a notebook's last cell shows one line, not the dict."""

    def _ipython_display_(self) -> None:
        print(
            f"{self['step']} finished in {self['wall_time_s']:.1f} s: {len(self['outputs'])} files and meta.json "
            f"in artifacts/{self['step']}/"
        )


RUNNER_ENV = "SCENECOLOR_RUNNER_RUN_DIR"  # set by the runner for the notebooks it executes


def is_run_folder(run_dir: Path) -> bool:
    """True for a folder ``scenecolor run`` made (it holds ``run.json``): the step cache may reuse its steps."""
    return (Path(run_dir) / "run.json").is_file()


def steps_missing_in(run_dir: Path, step: Step) -> list[Step]:
    """``step``'s upstream steps, transitively and in order, that have not completed in ``run_dir``."""
    needed: set[str] = set()
    frontier = [step.id]
    while frontier:
        for up in get_step(frontier.pop()).upstream:
            if up not in needed:
                needed.add(up)
                frontier.append(up)
    return [s for s in STEPS if s.id in needed and not (Path(run_dir) / "artifacts" / s.id / "meta.json").is_file()]


def hand_run_command(step: Step, run_dir: Path) -> str:
    """The command (from the checkout root) that runs one notebook at its defaults into ``run_dir``, as by hand."""
    executed = Path(run_dir) / "notebooks" / step.notebook
    return f"papermill --cwd notebooks notebooks/{step.notebook} '{executed}' -p run_dir '{run_dir}'"


def missing_upstream_message(step: Step, missing: Step, run_dir: Path) -> str:
    """What :meth:`StepContext.upstream` says when ``missing`` has not completed in ``run_dir``: the exact fix."""
    todo = steps_missing_in(run_dir, step) or [missing]
    commands = "\n".join(f"    {hand_run_command(s, run_dir)}" for s in todo)
    names = ", ".join(s.notebook for s in todo)
    return (
        f"{step.notebook} needs the results of {missing.notebook} in the run folder '{run_dir}', where it has not "
        f"completed. Run {names} first into that same folder: open them in JupyterLab and run every cell (keep "
        f"run_dir as it is), or from the checkout root:\n{commands}\n"
        "(`scenecolor run` would write a new folder under reports/, which this notebook does not read.)"
    )


@dataclass
class StepContext:
    """The run folder as one step sees it; see docs/ARCHITECTURE.md."""

    step: Step
    params: P.StepParams
    run_dir: Path
    started: float = field(default_factory=time.time)
    results: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"metrics": [], "tables": [], "figures": [], "videos": []}
    )
    input_files: dict[str, str] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        """The step's artifact folder (created on open)."""
        return self.run_dir / "artifacts" / self.step.id

    @property
    def seed(self) -> int:
        return self.params.seed

    def upstream(self, step_id: str) -> Path:
        """Artifact folder of a completed earlier step of this run."""
        step = get_step(step_id)
        folder = self.run_dir / "artifacts" / step.id
        if not (folder / "meta.json").is_file():
            raise MissingUpstreamError(missing_upstream_message(self.step, step, self.run_dir))
        return folder

    def record_inputs(self, checksums: dict[str, str]) -> None:
        """Record the sha256 of input files read outside the run folder (e.g. a manifest's media)."""
        self.input_files.update(checksums)

    # -- results for the index page -------------------------------------------------------
    def _save_results(self) -> None:
        atomic_write_json(self.out / "results.json", self.results)

    def record_metric(
        self, name: str, value: float | int | str | None, unit: str = "", source: str = "measured", note: str = ""
    ) -> None:
        """Record one headline number; ``source`` is 'measured' (this run) or 'quoted' (the paper)."""
        if source not in ("measured", "quoted"):
            raise ParameterError(f"record_metric source must be 'measured' or 'quoted', got {source!r}")
        if isinstance(value, (np.floating, np.integer)):
            value = value.item()
        entry = {"name": name, "value": value, "unit": unit, "source": source, "note": note}
        self.results["metrics"] = [m for m in self.results["metrics"] if m["name"] != name] + [entry]
        self._save_results()

    def record_table(self, name: str, table: Any, caption: str = "", source: str = "measured") -> None:
        """Record a table (a pandas DataFrame or a list of row dicts) for the index page."""
        if hasattr(table, "to_dict"):
            frame = table.reset_index() if getattr(table.index, "name", None) else table
            rows = frame.to_dict(orient="records")
        else:
            rows = list(table)
        entry = {"name": name, "caption": caption, "source": source, "rows": rows}
        self.results["tables"] = [t for t in self.results["tables"] if t["name"] != name] + [entry]
        self._save_results()

    def save_figure(self, fig: Any, name: str, caption: str = "", dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png`` atomically and list it for the index page."""
        path = self.out / "figures" / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        rel = path.relative_to(self.run_dir).as_posix()
        entry = {"name": name, "path": rel, "caption": caption}
        self.results["figures"] = [f for f in self.results["figures"] if f["name"] != name] + [entry]
        self._save_results()
        return SavedFile(path)

    def record_video(self, path: Path, caption: str = "", poster_frame: float = 0.5) -> VideoPlayer:
        """List an mp4 of ``ctx.out`` for the index page (an HTML5 player) and return the same player for the notebook.

        A poster (the frame at ``poster_frame`` of the video's length) is written beside it as
        ``<stem>.poster.png``; the page shows it until the video plays.
        """
        path = Path(path)
        poster = write_poster(path, path.with_suffix(".poster.png"), poster_frame)
        entry = {
            "name": path.stem,
            "path": path.relative_to(self.run_dir).as_posix(),
            "poster": poster.relative_to(self.run_dir).as_posix(),
            "caption": caption,
        }
        videos = self.results.setdefault("videos", [])
        self.results["videos"] = [v for v in videos if v["name"] != path.stem] + [entry]
        self._save_results()
        return VideoPlayer(path, poster, caption)

    def finish(self) -> dict[str, Any]:
        """Write ``meta.json`` (params, seed, versions, commit, input and output checksums, wall time)."""
        inputs = {}
        for up in self.step.upstream:
            meta_path = self.run_dir / "artifacts" / up / "meta.json"
            if meta_path.is_file():
                inputs[up] = read_json(meta_path).get("outputs_digest")
        if self.input_files:
            inputs["files"] = dict(sorted(self.input_files.items()))
        outputs = sha256_tree(self.out, exclude=("meta.json",))
        meta = {
            "step": self.step.id,
            "params": self.params.model_dump(),
            "seed": self.params.seed,
            "versions": package_versions(),
            "git_commit": git_commit(),
            "machine": machine_info(),
            "inputs": inputs,
            "outputs": outputs,
            "outputs_digest": digest_of(outputs),
            "wall_time_s": round(time.time() - self.started, 3),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(self.out / "meta.json", meta)
        return StepMeta(meta)


def open_step(step_id: str, namespace: Mapping[str, Any]) -> StepContext:
    """Validate a notebook's parameters, seed the generators and open its artifact folder.

    Call it in the cell after the ``parameters`` cell as ``open_step("02_scene_analysis", globals())``:
    every field of the step's model is read from ``namespace`` (the notebook's variables, papermill's
    injected values included), so each one is validated and recorded in meta.json. A field the
    namespace lacks is a ParameterError. An earlier ``meta.json`` of this step is removed, since the
    step is being redone.
    """
    step = get_step(step_id)
    fields = step.params_model.model_fields
    missing = [name for name in fields if name not in namespace]
    if missing:
        lines = "\n".join(f"    {n} = {fields[n].default!r}  # {fields[n].description}" for n in missing)
        raise ParameterError(
            f"{step.notebook}: parameter(s) {', '.join(missing)} not defined; the parameters cell must assign every "
            f"field of scenecolor.workbook.params.{step.params_model.__name__}. Add (with the defaults):\n{lines}"
        )
    params = validate_params(step_id, {name: namespace[name] for name in fields})
    run_dir = Path(params.run_dir) if params.run_dir else default_run_dir()
    if is_run_folder(run_dir) and os.environ.get(RUNNER_ENV) != str(run_dir.resolve()):
        raise ParameterError(
            f"run_dir '{run_dir}' is a run folder made by `scenecolor run` (it holds run.json); a hand run must not "
            "rewrite it, since the step cache reuses its steps. Leave run_dir empty (hand runs write to "
            f"'{default_run_dir()}') or give a folder of your own; to start from this run's results, copy its "
            f"artifacts first: mkdir -p reports/hand && cp -r '{run_dir}/artifacts' reports/hand/ (then "
            "run_dir = '../reports/hand')"
        )
    ctx = StepContext(step=step, params=params, run_dir=run_dir.resolve())
    ctx.out.mkdir(parents=True, exist_ok=True)
    (ctx.out / "meta.json").unlink(missing_ok=True)
    seed_everything(params.seed)
    ctx._save_results()
    return ctx
