"""The table of job kinds: every kind can be queued, is scheduled by a real setting, and the jobs
floor imports nothing from the API above it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import psycopg

from agentmem.core.settings import Settings
from agentmem.jobs import queue
from agentmem.jobs.kinds import HANDLERS, KINDS

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def test_every_kind_can_be_queued_and_names_a_setting(db: psycopg.Connection[Any]) -> None:
    ns = db.execute("INSERT INTO namespaces (name) VALUES ('kinds') RETURNING id").fetchone()[0]
    for name, kind in KINDS.items():
        _, created = queue.enqueue(db, name, ns)
        assert created and kind.every_setting in Settings.model_fields and HANDLERS[name] is kind.run


def test_no_job_module_imports_the_api() -> None:
    upward = []
    for path in sorted(JOBS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            upward += [f"{path.name}: {n}" for n in names if n.startswith("agentmem.api")]
    assert upward == []
