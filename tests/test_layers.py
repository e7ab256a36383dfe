"""The layer order in pyproject.toml ([tool.importlinter]) holds: a new upward import or cycle fails the suite."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_follow_the_layer_contract():
    lint = shutil.which("lint-imports")
    assert lint, "lint-imports not found: run ./install.sh (import-linter is a test dependency)"
    result = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout
