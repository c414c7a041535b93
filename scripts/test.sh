#!/usr/bin/env bash
# One command from a fresh clone: install what the tests need and run the whole suite (lint + pytest).
# The tests start their own redis-server, PostgreSQL, gRPC/HTTP servers and AutoGen cluster on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/setup.sh "lab,test,stacks"
.venv/bin/ruff check src tests bench
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
