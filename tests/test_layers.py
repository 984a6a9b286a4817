"""The floors of docs/architecture.md, checked with import-linter on every test run.

The contracts are in pyproject.toml ([tool.importlinter]). import-linter reads a package from one folder,
while agentmem maps the checkout's top-level folders into `agentmem` (package-dir), so the test first
lays the package out as a wheel would install it (symlinks in a temporary folder), then lints that.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lay_out(into: Path) -> Path:
    """`agentmem` as installed: each package-dir entry linked to its place under `into`."""
    mapping: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(mapping.items(), key=lambda item: item[0].count(".")):
        target = into.joinpath(*package.split("."))
        if package == "agentmem":
            target.mkdir(parents=True)
            for entry in (ROOT / folder).iterdir():
                (target / entry.name).symlink_to(entry)
        else:
            if target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(ROOT / folder)
    return into


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def test_the_floors_hold(tmp_path: Path) -> None:
    result = lint(lay_out(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def with_module(tmp_path: Path, package: str, name: str, source: str) -> Path:
    """The installed layout with one module of `package` written here instead of linked."""
    tree = lay_out(tmp_path)
    folder = tree.joinpath(*package.split("."))
    real = folder.resolve()
    folder.unlink()
    folder.mkdir()
    for entry in real.iterdir():
        if entry.name != name:
            (folder / entry.name).symlink_to(entry)
    (folder / name).write_text(source)
    return tree


def test_an_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    """The check can fail: a core module that imports the API, or a pure module that imports psycopg."""
    result = lint(with_module(tmp_path, "agentmem.core", "upward.py", "from agentmem.api import app\n"))
    assert result.returncode != 0
    assert "agentmem.core.upward -> agentmem.api.app" in result.stdout


def test_a_pure_module_that_does_io_breaks_the_contracts(tmp_path: Path) -> None:
    fusion = (ROOT / "retrieval" / "fusion.py").read_text() + "\n\ndef _late():\n    import psycopg\n"
    result = lint(with_module(tmp_path, "agentmem.retrieval", "fusion.py", fusion))
    assert result.returncode != 0
    assert "agentmem.retrieval.fusion -> psycopg" in result.stdout


def _imported(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_tests_do_not_import_benchmarks() -> None:
    offenders = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "tests").rglob("*.py")
        for name in _imported(path)
        if name == "benchmarks" or name.startswith("benchmarks.")
    )
    assert offenders == []


def test_only_agentmem_is_importable_from_the_product() -> None:
    """Product code imports its own modules as agentmem.*, never by a folder's bare name."""
    bare = {"api", "memory", "retrieval", "embeddings", "jobs", "migrations", "benchmarks"}
    mapping: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    offenders = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in set(mapping.values())
        for path in (ROOT / folder).rglob("*.py")
        for name in _imported(path)
        if name.split(".")[0] in bare
    )
    assert offenders == []


def test_every_package_is_shipped() -> None:
    """pyproject lists packages by name (package-dir mapping): a new subpackage left out would be missing
    from the wheel and fail only once installed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found - listed == set()
