"""The client is its own light distribution: its wheel requires httpx and pydantic only, and importing it
loads nothing of the service (no agentmem, torch, psycopg or fastapi)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "clients" / "python"


def test_wheel_requires_only_httpx_and_pydantic(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: an in-tree build would share build/ with other runs
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path), str(source)], check=False, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("agentmem_client-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = z.read(meta).decode()
    lines = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    requires = {re.split(r"[ <>=!~;\[]", line)[0].lower() for line in lines if "extra ==" not in line}
    optional = {re.split(r"[ <>=!~;\[]", line)[0].lower() for line in lines if "extra ==" in line}
    assert requires == {"httpx", "pydantic"}
    assert optional == {"langchain-core"}  # only with the [langchain] extra
    assert "Name: agentmem-client" in metadata
    shipped = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert shipped == {"agentmem_client"}


def test_importing_the_client_loads_nothing_of_the_service() -> None:
    probe = ("import sys, agentmem_client; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "{'agentmem', 'torch', 'psycopg', 'fastapi', 'starlette', 'sentence_transformers'}))")
    out = subprocess.run([sys.executable, "-I", "-c", probe], check=True, capture_output=True, text=True,
                         cwd=CLIENT)
    assert out.stdout.strip() == "[]"


def test_client_sources_do_not_import_the_service() -> None:
    sources = list((CLIENT / "agentmem_client").rglob("*.py"))
    assert sources
    for path in sources:
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+agentmem(\.|\s|$)", text, re.MULTILINE), path
