"""`logs count` is the cron job's and the gate's one number: it loads no analysis (logs/analyze.py, the
pattern table, the knowledge table) and no pydantic, only the reader, the scanner and the gates it reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CODE = """
import sys
from agentops.cli.main import run
try:
    run(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(code, sorted(m for m in sys.modules if m.startswith(("agentops.logs.", "pydantic"))), file=sys.stderr)
"""


def test_logs_count_loads_no_analysis_and_no_pydantic(tmp_path: Path) -> None:
    log = tmp_path / "w1.log"
    log.write_text('{"timestamp": "2024-05-01T00:00:00Z", "level": "ERROR", "message": "boom"}\n'
                   '{"timestamp": "2024-05-01T00:00:01Z", "level": "INFO", "message": "fine"}\n')
    out = subprocess.run([sys.executable, "-c", CODE, "logs", "count", str(log), "-o", "json", "--jobs", "1",
                          "--max-errors", "5"], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL, cwd=tmp_path)
    code, loaded = out.stderr.strip().splitlines()[-1].split(" ", 1)
    assert code == "0", out.stderr
    assert '"errors": 1' in out.stdout
    for heavy in ("agentops.logs.analyze", "agentops.logs.patterns", "agentops.logs.knowledge", "pydantic"):
        assert f"'{heavy}'" not in loaded, loaded
