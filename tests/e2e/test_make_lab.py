"""`make lab`: a Jupyter server starts without a browser, offers the `scenecolor` kernel and runs notebook 00.

The server is started by the Makefile's own `lab` target (`make -o setup lab`: the set-up already
ran for this test session), with LAB_ARGS for a headless server on a free port. Notebook 00 is
then executed cell by cell through the server's REST and websocket API in the `scenecolor`
kernel, at small parameters injected after its parameters cell (as papermill does).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix) if (Path(sys.prefix) / "bin" / "jupyter").exists() else None
SMALL = {
    "size": 32,
    "clip_max_side": 128,
    "clip_frames": 8,
    "render_width": 128,
    "n_test_videos": 1,
    "shots_per_test_video": 2,
    "segment_frames": 24,
    "transition_frames": 4,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, port: int, token: str) -> None:
        self.base, self.token = f"127.0.0.1:{port}", token

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"http://{self.base}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None


def _execute(ws: Any, session: str, code: str, timeout: float = 600) -> tuple[str, list[str]]:
    """Run one cell in the kernel; returns (status, error tracebacks)."""
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "username": "test",
                    "session": session,
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": True, "allow_stdin": False},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    errors: list[str] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))
        if msg["channel"] == "shell" and msg["msg_type"] == "execute_reply":
            return msg["content"]["status"], errors
    raise TimeoutError(f"no reply within {timeout} s to:\n{code[:300]}")


@pytest.mark.skipif(VENV is None, reason="the tests do not run inside the workbook's virtual environment")
def test_make_lab_serves_the_scenecolor_kernel_and_runs_notebook_00(tmp_path: Path) -> None:
    import websocket

    port, token = _free_port(), secrets.token_hex(16)
    lab_args = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token}" + (" --allow-root" if os.geteuid() == 0 else "")
    )
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        ["make", "-o", "setup", "lab", f"VENV={VENV}", f"LAB_ARGS={lab_args}"],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "BROWSER": "false"},
    )
    server = _Server(port, token)
    try:
        deadline = time.time() + 180
        while True:
            try:
                server.api("GET", "/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("make lab did not start a server:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(1)
        specs = server.api("GET", "/api/kernelspecs")["kernelspecs"]
        assert "scenecolor" in specs, f"kernels offered: {sorted(specs)}; run `make setup`"

        kernel = server.api("POST", "/api/kernels", {"name": "scenecolor"})
        ws = websocket.create_connection(
            f"ws://{server.base}/api/kernels/{kernel['id']}/channels?token={token}", timeout=600
        )
        session = uuid.uuid4().hex
        nb = nbformat.read(str(REPO / "notebooks" / "00_data_prep.ipynb"), as_version=4)
        run_dir = tmp_path / "hand-run"
        overrides = {"run_dir": str(run_dir), **SMALL}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            status, errors = _execute(ws, session, cell.source)
            assert status == "ok", f"cell failed:\n{cell.source[:400]}\n" + "\n".join(errors)[-3000:]
            if "parameters" in cell.metadata.get("tags", []):
                status, errors = _execute(ws, session, "\n".join(f"{k} = {v!r}" for k, v in overrides.items()))
                assert status == "ok", errors
        ws.close()
        meta = json.loads((run_dir / "artifacts" / "00_data_prep" / "meta.json").read_text())
        assert meta["params"]["size"] == SMALL["size"]
        server.api("DELETE", f"/api/kernels/{kernel['id']}")
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the server and its kernels: the session make started
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()
