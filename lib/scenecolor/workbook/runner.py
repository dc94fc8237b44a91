"""Run the numbered notebooks with papermill into a run folder, reusing unchanged steps.

A step's cache key is a content hash (as DVC does, never timestamps) of: the notebook file, the
validated parameters, the library source, the data manifests it reads and the output digests of
its upstream steps. When a key is found in ``reports/.cache/lock.json`` and the run that made it
still holds the step, the step's folders are linked into the new run instead of executing again.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from scenecolor.core.artifacts import atomic_write_json, digest_of, read_json, sha256_file, sha256_tree
from scenecolor.core.errors import ParameterError, ScenecolorError, StepFailedError
from scenecolor.core.paths import PACKAGE_DIR, checkout_root
from scenecolor.workbook import pipeline, report
from scenecolor.workbook.pipeline import STEPS, Step

PROFILE_NAMES = ("smoke", "sample", "full")
CACHE_FILE = Path(".cache") / "lock.json"


# -- profiles --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    """A parameter file: ``defaults`` for every notebook that declares a key, then one section per step."""

    name: str
    path: Path
    description: str
    defaults: dict[str, Any]
    steps: dict[str, dict[str, Any]]


def notebooks_dir(root: Path | None = None) -> Path:
    """The folder holding the numbered notebooks and ``profiles/``."""
    base = root or checkout_root()
    if base is None or not (base / "notebooks").is_dir():
        raise ScenecolorError("cannot find the workbook's notebooks/ folder; run scenecolor from inside the checkout")
    return base / "notebooks"


def load_profile(name_or_path: str, root: Path | None = None) -> Profile:
    """Load ``smoke``/``sample``/``full`` from notebooks/profiles, or a YAML file by path."""
    if name_or_path in PROFILE_NAMES:
        path = notebooks_dir(root) / "profiles" / f"{name_or_path}.yaml"
    else:
        path = Path(name_or_path)
    if not path.is_file():
        raise ParameterError(
            f"profile '{name_or_path}' not found (give one of {', '.join(PROFILE_NAMES)} or a path to a YAML file)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"profile '{path}' is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"profile '{path}' must be a mapping of step ids to parameters")
    description = str(data.pop("description", ""))
    defaults = data.pop("defaults", {}) or {}
    if not isinstance(defaults, dict):
        raise ParameterError(f"profile '{path}': 'defaults' must be a mapping")
    steps: dict[str, dict[str, Any]] = {}
    for key, section in data.items():
        step = pipeline.get_step(str(key).zfill(2) if str(key).isdigit() else str(key))
        if section is None:
            section = {}
        if not isinstance(section, dict):
            raise ParameterError(f"profile '{path}': section '{key}' must be a mapping of parameter names to values")
        if "run_dir" in section:
            raise ParameterError(f"profile '{path}': '{key}.run_dir' is set by the runner, remove it")
        steps[step.id] = dict(section)
    stem = path.stem if name_or_path not in PROFILE_NAMES else name_or_path
    profile = Profile(name=stem, path=path.resolve(), description=description, defaults=dict(defaults), steps=steps)
    unknown = [k for k in profile.defaults if not any(k in s.params_model.model_fields for s in STEPS)]
    if unknown:
        raise ParameterError(f"profile '{path}': unknown key(s) in defaults: {', '.join(unknown)}")
    return profile


def step_values(profile: Profile, step: Step) -> dict[str, Any]:
    """The raw values a profile gives one step (defaults it declares, then its own section)."""
    fields = step.params_model.model_fields
    values = {k: v for k, v in profile.defaults.items() if k in fields}
    values.update(profile.steps.get(step.id, {}))
    return values


def validate_profile(profile: Profile) -> dict[str, Any]:
    """Validate every step's parameters before anything runs; returns step id -> params model."""
    return {step.id: pipeline.validate_params(step.id, step_values(profile, step)) for step in STEPS}


# -- step selection and hashing ----------------------------------------------------------------
def select_steps(start: str | None = None, until: str | None = None, only: Iterable[str] | None = None) -> list[Step]:
    """The steps to execute, in order, from ``--from``/``--until``/``--only``."""
    only = list(only or [])
    if only:
        if start or until:
            raise ParameterError("--only cannot be combined with --from/--until")
        wanted = {pipeline.get_step(s).id for s in only}
        return [s for s in STEPS if s.id in wanted]
    ids = [s.id for s in STEPS]
    lo = ids.index(pipeline.get_step(start).id) if start else 0
    hi = ids.index(pipeline.get_step(until).id) if until else len(ids) - 1
    if lo > hi:
        raise ParameterError(f"--from {start} comes after --until {until}")
    return list(STEPS[lo : hi + 1])


def library_digest() -> str:
    """Hash of the library's Python source: a library change re-runs every step."""
    return digest_of({rel: sha for rel, sha in sha256_tree(PACKAGE_DIR).items() if rel.endswith(".py")})


def data_digest(root: Path) -> str:
    """Hash of the data manifests (they pin the input media by sha256)."""
    return digest_of(sha256_tree(root / "data_manifests"))


def step_key(step: Step, params: Any, notebook: Path, lib: str, data: str, upstream: dict[str, str]) -> str:
    """The content hash that decides whether a step can be reused."""
    values = params.model_dump()
    values.pop("run_dir", None)
    return digest_of(
        {
            "step": step.id,
            "notebook": sha256_file(notebook),
            "params": values,
            "library": lib,
            "data": data if step.id == "00_data_prep" else "",
            "upstream": upstream,
        }
    )


# -- the run -----------------------------------------------------------------------------------
@dataclass
class StepRecord:
    """What happened to one step in a run."""

    step: str
    status: str = "pending"  # executed | reused | failed | skipped
    key: str = ""
    wall_time_s: float = 0.0
    reused_from: str = ""
    error: str = ""


@dataclass
class RunResult:
    """The run folder and what each step did."""

    run_dir: Path
    records: list[StepRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status in ("executed", "reused") for r in self.records)


def _new_run_dir(reports: Path, profile: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = reports / f"{stamp}-{profile}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = reports / f"{stamp}-{profile}-{n}"
    candidate.mkdir(parents=True)
    return candidate


def _point_latest(reports: Path, run_dir: Path) -> None:
    link = reports / "latest"
    tmp = reports / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(run_dir.name, tmp)
    os.replace(tmp, link)


def _link_tree(src: Path, dst: Path) -> None:
    """Copy a folder by hard links (falling back to copies across file systems)."""
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def _step_paths(run_dir: Path, step: Step) -> list[Path]:
    return [
        run_dir / "artifacts" / step.id,
        run_dir / "notebooks" / step.notebook,
        run_dir / "html" / f"{step.id}.html",
        run_dir / "html" / f"{step.id}.reviewer.html",
    ]


def verify_step(folder: Path, outputs_digest: str | None = None) -> str:
    """Why a finished step's folder cannot be reused ('' when it can).

    The files must still have the sha256 that ``meta.json`` recorded when the step finished, and
    (when given) ``meta.json``'s ``outputs_digest`` must be the one the cache recorded: a notebook
    re-run by hand into the folder, or an edited or deleted file, is caught either way.
    """
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return "its meta.json is missing (the step did not finish there, or was re-opened by hand)"
    meta = read_json(meta_path)
    if outputs_digest is not None and meta.get("outputs_digest") != outputs_digest:
        return "its meta.json was rewritten since the runner made it (a notebook re-run by hand into that folder)"
    recorded = meta.get("outputs") or {}
    actual = sha256_tree(folder, exclude=("meta.json",))
    changed = sorted(k for k in set(recorded) | set(actual) if recorded.get(k) != actual.get(k))
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        return f"{len(changed)} file(s) differ from the checksums in its meta.json ({shown})"
    return ""


def _cache_entry(entry: Any) -> tuple[str, str | None]:
    """(run id, outputs digest) of a cache entry; entries of older versions hold the run id alone."""
    if isinstance(entry, dict):
        return str(entry.get("run", "")), entry.get("outputs_digest")
    return str(entry), None


def _reuse(reports: Path, cached_run: str, step: Step, run_dir: Path, outputs_digest: str | None, log: Any) -> bool:
    source = reports / cached_run
    problem = verify_step(source / "artifacts" / step.id, outputs_digest)
    if problem:
        if (source / "artifacts" / step.id).is_dir():
            log(f"[{step.id}] not reusing run {cached_run}: {problem}")
        return False
    for src, dst in zip(_step_paths(source, step), _step_paths(run_dir, step)):
        if src.is_dir():
            _link_tree(src, dst)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return True


def resolve_kernel(requested: str | None) -> str:
    """The Jupyter kernel to execute with: ``scenecolor`` when installed, else this Python's own."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if requested:
        if requested not in specs:
            raise ParameterError(
                f"Jupyter kernel '{requested}' is not installed (installed: {', '.join(sorted(specs))}); run `make "
                "setup`"
            )
        return requested
    return "scenecolor" if "scenecolor" in specs else "python3"


def _failure_message(step: Step, exc: Exception, run_dir: Path) -> str:
    cell = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    where = f"cell [{cell}]" if cell is not None else "a cell"
    return (
        f"{step.notebook} failed in {where}: {ename}: {evalue}\n"
        f"  partial notebook: {run_dir / 'notebooks' / step.notebook}\n"
        f"  rendered: {run_dir / 'html' / (step.id + '.html')}"
    )


@dataclass
class RunPlan:
    """What a run will do, decided before anything executes: validated parameters and the step list."""

    profile: Profile
    params: dict[str, Any]  # step id -> validated pydantic parameters
    selected: set[str]  # steps the user asked to execute
    needed: list[Step]  # those plus the upstream steps they read (reused from the cache)
    notebooks: Path
    repo: Path


def plan_run(
    profile_name: str,
    *,
    start: str | None = None,
    until: str | None = None,
    only: Iterable[str] | None = None,
    root: Path | None = None,
) -> RunPlan:
    """Validate the profile and choose the steps; ParameterError names a bad key, step or missing notebook."""
    nb_dir = notebooks_dir(root)
    repo = nb_dir.parent
    profile = load_profile(profile_name, repo)
    params = validate_profile(profile)
    selected = {s.id for s in select_steps(start, until, only)}
    last = max(selected)
    needed = [s for s in STEPS if s.id in selected or (s.id < last and _is_upstream_of(s.id, selected))]
    for step in needed:
        if not (nb_dir / step.notebook).is_file():
            raise ParameterError(f"notebook {nb_dir / step.notebook} is missing")
    return RunPlan(profile, params, selected, needed, nb_dir, repo)


def execute_step(step: Step, params: Any, plan: RunPlan, run_dir: Path, kernel: str, progress: bool) -> None:
    """Run one notebook with papermill into ``run_dir`` and render it; StepFailedError names the cell."""
    import papermill as pm

    out_nb = run_dir / "notebooks" / step.notebook
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get(pipeline.RUNNER_ENV)
    os.environ[pipeline.RUNNER_ENV] = str(run_dir.resolve())  # the kernel inherits it: open_step may write here
    try:
        pm.execute_notebook(
            str(plan.notebooks / step.notebook),
            str(out_nb),
            parameters=params.model_dump(),
            kernel_name=kernel,
            cwd=str(plan.notebooks),
            progress_bar=progress,
            request_save_on_cell_execute=True,
        )
    except Exception as exc:  # papermill re-raises cell errors as PapermillExecutionError
        if out_nb.is_file():
            report.render_notebook(out_nb, run_dir / "html")
        raise StepFailedError(_failure_message(step, exc, run_dir)) from None
    finally:
        if previous is None:
            os.environ.pop(pipeline.RUNNER_ENV, None)
        else:
            os.environ[pipeline.RUNNER_ENV] = previous
    if not (run_dir / "artifacts" / step.id / "meta.json").is_file():
        raise StepFailedError(f"{step.notebook} finished without calling ctx.finish() (no meta.json)")
    report.render_notebook(out_nb, run_dir / "html")


class RunLog:
    """The run's record, ``run.json`` (and its ``index.html``), rewritten after every step."""

    def __init__(self, plan: RunPlan, run_dir: Path, kernel: str, result: RunResult) -> None:
        self.run_dir, self.result, self.started = run_dir, result, time.time()
        self.meta: dict[str, Any] = {
            "run_id": run_dir.name,
            "profile": plan.profile.name,
            "profile_path": str(plan.profile.path),
            "profile_description": plan.profile.description,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": pipeline.git_commit(plan.repo),
            "versions": pipeline.package_versions(),
            "machine": pipeline.machine_info(),
            "kernel": kernel,
            "command": " ".join(sys.argv),
            "params": {
                sid: p.model_dump(exclude={"run_dir"})
                for sid, p in plan.params.items()
                if any(s.id == sid for s in plan.needed)
            },
            "steps": [],
        }

    def save(self) -> None:
        self.meta["steps"] = [r.__dict__ for r in self.result.records]
        self.meta["wall_time_s"] = round(time.time() - self.started, 2)
        atomic_write_json(self.run_dir / "run.json", self.meta)
        report.write_index(self.run_dir)


def run_workbook(
    profile_name: str,
    *,
    reports: Path | None = None,
    start: str | None = None,
    until: str | None = None,
    only: Iterable[str] | None = None,
    force: bool = False,
    kernel: str | None = None,
    root: Path | None = None,
    progress: bool = True,
    log: Any = print,
) -> RunResult:
    """Execute (or reuse) the selected steps of the workbook into a new run folder.

    Steps before ``start`` (or outside ``only``) that later steps need are taken from the cache;
    if they are not cached for these parameters the run stops before executing anything.
    """
    from tqdm.auto import tqdm

    plan = plan_run(profile_name, start=start, until=until, only=only, root=root)
    kernel_name = resolve_kernel(kernel)
    reports = (reports or plan.repo / "reports").resolve()
    reports.mkdir(parents=True, exist_ok=True)
    cache_path = reports / CACHE_FILE
    cache: dict[str, dict[str, Any]] = read_json(cache_path) if cache_path.is_file() else {}
    run_dir = _new_run_dir(reports, plan.profile.name)
    result = RunResult(run_dir=run_dir)
    run_log = RunLog(plan, run_dir, kernel_name, result)
    lib, data = library_digest(), data_digest(plan.repo)
    upstream_digests: dict[str, str] = {}
    bar = tqdm(plan.needed, desc="workbook", unit="step", disable=not progress)
    for step in bar:
        bar.set_postfix_str(step.id)
        params = plan.params[step.id].model_copy(update={"run_dir": str(run_dir)})
        upstream = {u: upstream_digests.get(u, "") for u in step.upstream}
        key = step_key(step, params, plan.notebooks / step.notebook, lib, data, upstream)
        record = StepRecord(step=step.id, key=key)
        result.records.append(record)
        t0 = time.time()
        cached_run, cached_digest = _cache_entry(cache.get(step.id, {}).get(key, ""))
        must_run = step.id in plan.selected and (force or not cached_run)
        if not must_run and cached_run and _reuse(reports, cached_run, step, run_dir, cached_digest, log):
            record.status, record.reused_from = "reused", cached_run
            log(f"[{step.id}] reused from run {cached_run} (nothing changed)")
        elif step.id not in plan.selected:
            record.status = "failed"
            record.error = (
                f"{step.id} is needed by the selected steps but has no cached result for these parameters (or one "
                "modified since)"
            )
            run_log.save()
            raise StepFailedError(record.error + f"; run without --from/--only (or with --until {step.number}) first")
        else:
            log(f"[{step.id}] executing {step.notebook}")
            try:
                execute_step(step, params, plan, run_dir, kernel_name, progress)
            except StepFailedError as exc:
                record.status, record.wall_time_s, record.error = "failed", round(time.time() - t0, 2), str(exc)
                run_log.save()
                raise
            record.status = "executed"
            digest = read_json(run_dir / "artifacts" / step.id / "meta.json")["outputs_digest"]
            cache.setdefault(step.id, {})[key] = {"run": run_dir.name, "outputs_digest": digest}
            atomic_write_json(cache_path, cache)
        record.wall_time_s = round(time.time() - t0, 2)
        upstream_digests[step.id] = read_json(run_dir / "artifacts" / step.id / "meta.json")["outputs_digest"]
        run_log.save()
    _point_latest(reports, run_dir)
    return result


def _is_upstream_of(step_id: str, selected: set[str]) -> bool:
    """True when ``step_id`` is (transitively) an input of a selected step."""
    frontier = set(selected)
    seen: set[str] = set()
    while frontier:
        sid = frontier.pop()
        seen.add(sid)
        for up in pipeline.get_step(sid).upstream:
            if up == step_id:
                return True
            if up not in seen:
                frontier.add(up)
    return False
