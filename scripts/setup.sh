#!/usr/bin/env bash
# Create ./.venv and install agentops into it. Usage: scripts/setup.sh [extras]   (e.g. "lab,test,stacks")
# Idempotent: a second run only installs what changed. Never asks anything (safe without a TTY).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "agentops needs Python >= 3.11 (found: $("$py" --version 2>&1))" >&2; exit 3
fi
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
