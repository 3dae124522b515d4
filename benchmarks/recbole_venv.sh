#!/usr/bin/env bash
# Build the separate RecBole 1.2.1 environment used by benchmarks/recbole_side_by_side.py
# (issue 26 anchor). RecBole is NOT a contrastlearn dependency: it lives in its own venv.
# Idempotent: creates the venv only when missing; re-running re-checks the pins.
#
#   bash benchmarks/recbole_venv.sh            # venv at /work/venvs/recbole
#   RECBOLE_VENV=/tmp/rb bash benchmarks/recbole_venv.sh
#
# recbole is installed with --no-deps: its metadata also pulls ray<=2.6.3, thop, plotly, psutil
# and tabulate, which only its hyper-parameter tuning / FLOPs / environment-report helpers use;
# the training path the benchmark uses needs only the packages listed below. `pip check` will
# therefore list those as missing, and torch's setuptools>=77 wish as unmet (torch needs
# setuptools only to compile C++ extensions).
set -euo pipefail

VENV="${RECBOLE_VENV:-/work/venvs/recbole}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet)

# Separate pip calls: torch 2.13's metadata asks for setuptools>=77, which would make one joint
# resolve with setuptools<70 impossible.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "numpy<2" "pandas<2.3" "scipy<1.12" "setuptools<70" \
    "tqdm" "colorlog==4.7.2" "colorama==0.4.4" "scikit-learn" "pyyaml" \
    "tensorboard" "texttable" "faiss-cpu"
"${PIP[@]}" --no-deps "recbole==1.2.1"

# CPU build only (the configured index serves torch-2.13.0+cpu), and RecBole's training path
# must import.
"$VENV/bin/python" - <<'EOF'
import numpy, pandas, recbole, scipy, torch
from recbole.config import Config  # noqa: F401
from recbole.data import create_dataset, data_preparation  # noqa: F401
from recbole.utils import get_model, get_trainer  # noqa: F401

if torch.version.cuda is not None:
    raise SystemExit(f"got a CUDA torch build ({torch.__version__}); install the +cpu wheel")
import faiss  # noqa: F401  (NCL's k-means)

for name in ("LightGCN", "SGL", "NCL"):
    get_model(name)
print("torch", torch.__version__, "recbole", recbole.__version__, "numpy", numpy.__version__,
      "pandas", pandas.__version__, "scipy", scipy.__version__)
EOF
