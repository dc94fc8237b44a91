#!/usr/bin/env bash
# The GPU check, one command on a machine with an NVIDIA GPU (under 8 minutes on one GPU):
#   1. a CUDA GPU is visible (nvidia-smi lists one and the .venv's torch sees it), else a clear message, exit 1;
#   2. .[tensorrt] installed into .venv (TensorRT for notebook 06's engines);
#   3. pytest -m gpu: the colorizer, the embedder and `scenecolor colorize --device cuda` against the CPU;
#   4. a short workbook run (`scenecolor run --profile smoke`, the notebooks' device parameter at its default, auto)
#      into its own reports folder;
#   5. the speed ratios notebook 06 recorded (artifacts/06_edge_export/results.json).
# Environment: SCENECOLOR_PYTHON (default .venv/bin/python), GPU_CHECK_REPORTS (default reports/gpu-check),
# GPU_CHECK_SKIP_INSTALL=1 to use the .venv as it is (a machine without network access).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${SCENECOLOR_PYTHON:-.venv/bin/python}"
REPORTS="${GPU_CHECK_REPORTS:-reports/gpu-check}"
T0=$SECONDS

fail() {
    echo "gpu_check: $*" >&2
    exit 1
}
stage() { echo "== [$((SECONDS - T0)) s] $*"; }

# 1. CUDA visible -----------------------------------------------------------------------------------------------
stage "CUDA"
command -v nvidia-smi >/dev/null 2>&1 ||
    fail "no NVIDIA driver on this machine (nvidia-smi is not installed); run this on a machine with a CUDA GPU"
GPUS="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)"
[ "${GPUS:-0}" -ge 1 ] ||
    fail "nvidia-smi lists no GPU (driver not loaded, or no GPU in this machine or container); run this on a machine with a CUDA GPU"
nvidia-smi -L
[ -x "$PY" ] || fail "no Python at '$PY': run 'make setup' first (it creates .venv), or set SCENECOLOR_PYTHON"
"$PY" - <<'EOF' || fail "torch in '$PY' sees no CUDA GPU although nvidia-smi lists one (a CPU-only torch wheel, or CUDA_VISIBLE_DEVICES hides it)"
import sys
import torch

if not torch.cuda.is_available():
    sys.exit(1)
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees {torch.cuda.device_count()} GPU(s): "
      f"{torch.cuda.get_device_name(0)}")
EOF

# 2. TensorRT ---------------------------------------------------------------------------------------------------
stage "install .[tensorrt] into $(dirname "$(dirname "$PY")")"
if [ "${GPU_CHECK_SKIP_INSTALL:-0}" = "1" ]; then
    echo "skipped (GPU_CHECK_SKIP_INSTALL=1)"
else
    "$PY" -m pip install --quiet --no-build-isolation -e ".[tensorrt]" ||
        fail "pip could not install .[tensorrt] (no network? set GPU_CHECK_SKIP_INSTALL=1 to check without it)"
fi
"$PY" -c "import tensorrt; print('tensorrt', tensorrt.__version__)" 2>/dev/null ||
    echo "tensorrt is not importable: notebook 06 will say why it skips its engines"

# 3. the gpu tests ----------------------------------------------------------------------------------------------
stage "pytest -m gpu"
"$PY" -m pytest -m gpu tests -q -p no:cacheprovider -rs

# 4. a short workbook run ---------------------------------------------------------------------------------------
stage "scenecolor run --profile smoke --reports $REPORTS"
"$PY" -m scenecolor.cli run --profile smoke --reports "$REPORTS" --no-progress

# 5. notebook 06's ratios ---------------------------------------------------------------------------------------
stage "notebook 06's ratios"
"$PY" - "$REPORTS/latest/artifacts/06_edge_export/results.json" <<'EOF'
import json
import sys

results = json.load(open(sys.argv[1], encoding="utf-8"))
metrics = {m["name"]: m for m in results.get("metrics", [])}
for name, m in metrics.items():
    if m.get("unit") == "x":
        print(f"  {name:40s} {m['value']:.2f}x  {m.get('note', '')}")
for table in results.get("tables", []):
    if table["name"] == "edge_runtimes":
        for row in table["rows"]:
            ratio = row.get("speed-up vs torch")
            if isinstance(ratio, (int, float)) and ratio == ratio:
                print(f"  {row['runtime']:40s} {ratio:.2f}x torch eager ({row['ms / frame']:.1f} ms / frame)")
print(f"  tensorrt: {metrics.get('tensorrt', {}).get('value')}")
EOF
stage "done"
