"""The import rule is a check: `lint-imports` (run by `make lint`) keeps roles off each other.

Each test runs the real `lint-imports` on a scratch copy of the packages with the project's own
contract (pyproject.toml), so the rule is tested as CI runs it, not re-stated here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "agencybus", "producers", "processors", "consumers", "demo")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """The packages' Python files and pyproject.toml, copied (no data files: the linter reads imports)."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=lambda d, names: (
                [n for n in names if not n.endswith(".py") and not (Path(d) / n).is_dir()]
                + [n for n in names if n == "__pycache__"]
            ),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The scratch copy first on the path, so the editable install of the real tree is not what is read.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_the_contract(scratch: Path) -> None:
    result = lint_imports(scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("producers/cross_role.py", "processors.rules"),  # one role reaching into another
        ("consumers/steering/cross_role.py", "consumers.state_bank.ledger"),  # consumer into consumer
        ("demo/cross_role.py", "producers.simulator"),  # the demo runs roles as processes, never imports
        ("agencybus/cross_role.py", "consumers.steering.store"),  # the runtime below every role
        ("schemas/cross_role.py", "agencybus.settings"),  # the contract below the runtime
    ],
)
def test_an_import_across_the_rule_fails_lint_imports(scratch: Path, importer: str, imported: str) -> None:
    source = f'"""Breaks the rule on purpose."""\n\nimport {imported}\n'
    (scratch / importer).write_text(source, encoding="utf-8")
    result = lint_imports(scratch)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    module = importer.removesuffix(".py").replace("/", ".")
    assert f"{module} -> {imported}" in result.stdout, result.stdout
