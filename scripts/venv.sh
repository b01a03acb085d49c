#!/usr/bin/env bash
# Creates .venv with the project installed (editable) when missing or stale.
# Usage: scripts/venv.sh [extra]   e.g. scripts/venv.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
spec="."
[ -n "$extra" ] && spec=".[$extra]"
stamp=".venv/.installed-${extra:-base}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Reinstall when pyproject.toml changed since the last install (cheap check, no network).
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  # setuptools warns on every editable install that folders named like a package win over
  # it on sys.path; here they are the package, so the warning is noise.
  PYTHONWARNINGS="ignore:Editable installation" \
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
