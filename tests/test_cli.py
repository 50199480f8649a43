import subprocess
import sys
import tomllib
from pathlib import Path

from marionette.plugin.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_help_and_version(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out
    out = subprocess.run([sys.executable, "-m", "marionette.plugin.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("marionette ")


def test_every_package_is_declared():
    """A subpackage missing from pyproject works editable but vanishes from a real install."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(cfg["packages"])
    for top, name in (("core", "marionette.core"), ("plugin", "marionette.plugin"),
                      ("control_panel", "marionette.control_panel"), ("models", "marionette.models")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            assert ".".join((name, *rel)) in declared, f"{init.parent} is not in pyproject packages"
