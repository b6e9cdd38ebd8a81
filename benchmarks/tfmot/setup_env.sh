#!/usr/bin/env bash
# Creates benchmarks/tfmot/.venv: TensorFlow, tf-keras (Keras 2) and tensorflow-model-optimization,
# pinned in benchmarks/tfmot/requirements.txt. The product's ./.venv is never touched: tfmot 0.8.x
# needs Keras 2 (TF_USE_LEGACY_KERAS=1), the product needs Keras 3.
#
# Idempotent: does nothing when the venv exists and was built from the current requirements file
# (a SHA-256 stamp in the venv); prints what it did and the installed versions either way.
#
#   benchmarks/tfmot/setup_env.sh            # PYTHON=python3.11 to pick the interpreter
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${here}/.venv"
requirements="${here}/requirements.txt"
stamp="${venv}/.requirements.sha256"
wanted="$(sha256sum "${requirements}" | cut -d' ' -f1)"

if [[ ! -x "${venv}/bin/python" ]]; then
  echo "[tfmot env] creating ${venv} with $("${PYTHON:-python3}" --version)"
  "${PYTHON:-python3}" -m venv "${venv}"
else
  echo "[tfmot env] ${venv} exists"
fi
if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${wanted}" ]]; then
  echo "[tfmot env] installing ${requirements} (first run: a few minutes, ~700 MB of wheels)"
  "${venv}/bin/python" -m pip install --quiet --upgrade pip
  "${venv}/bin/python" -m pip install --quiet -r "${requirements}"
  echo "${wanted}" > "${stamp}"
else
  echo "[tfmot env] requirements unchanged since the last install (stamp ${stamp}); nothing installed"
fi
TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 "${venv}/bin/python" - <<'PY'
import importlib.metadata as md
import tensorflow as tf
import tensorflow_model_optimization as tfmot
for name in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "numpy", "h5py",
             "ai-edge-litert"):
    print(f"[tfmot env] {name}=={md.version(name)}")
import tf_keras
print(f"[tfmot env] tf.keras is {tf.keras.__name__} (tf-keras {tf_keras.__version__}), "
      f"tfmot {tfmot.__version__}")
assert tf.keras.__name__.startswith("tf_keras"), "TF_USE_LEGACY_KERAS=1 did not select tf-keras"
PY
