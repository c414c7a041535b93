#!/usr/bin/env bash
# One command from a fresh clone: set up ./.venv and run `agentops health` (this machine, no config needed).
# The exit code is health's own (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN or bad flags/config), so scripts can
# gate on it; a non-zero one is explained on stderr, since the first thing a newcomer sees must not read as a
# failed install. A failed setup exits 100, apart from any code health can return.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! scripts/setup.sh; then
  echo "run.sh: setting up ./.venv failed (see above); agentops did not run" >&2
  exit 100
fi
.venv/bin/agentops health "$@"
rc=$?
case $rc in
  0) ;;
  1|2)
    status=$([ $rc -eq 1 ] && echo WARNING || echo CRITICAL)
    echo "" >&2
    echo "agentops health exited $rc ($status): a check above found something on this machine. That is the" \
         "result, not a failed install: agentops is set up and ran. Exit codes: 0 OK, 1 WARNING, 2 CRITICAL," \
         "3 UNKNOWN. Next: .venv/bin/agentops config init, then .venv/bin/agentops health -c agentops.yaml" >&2 ;;
  *)
    echo "agentops health exited $rc: it could not judge (UNKNOWN, or bad flags or config; see above)" >&2 ;;
esac
exit $rc
