#!/usr/bin/env bash
# One command from a fresh clone: set up ./.venv and run `agentops health` (this machine, no config needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/agentops health "$@"
