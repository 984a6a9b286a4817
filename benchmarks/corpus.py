"""A realistic, offline, deterministic text corpus for benchmarks: conversations and API documentation.

Two sources, in this order:
- LoCoMo conversations (read in place from `<repo>/../shared/data/locomo10.json`, never copied into the
  repository), one document per session, one line per turn;
- docstrings of the Python standard library, then of the installed site-packages, extracted with `ast`
  (module, class and function docstrings), one document per module.

Nothing is random and nothing is downloaded: the same interpreter and packages give the same corpus.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from agentmem.memory.chunking import Chunk, chunk_text

REPO = Path(__file__).resolve().parent.parent
LOCOMO_ENV = "AGENTMEM_LOCOMO"
# The shared data folder beside the checkout (or beside a parent of it, for a git worktree).
SHARED_DATA = next((d / "shared" / "data" for d in REPO.parents if (d / "shared" / "data").is_dir()),
                   REPO.parent / "shared" / "data")

# Folders whose modules are not documentation a user would store: test suites, caches, vendored copies.
_SKIP_DIRS = frozenset({"__pycache__", "test", "tests", "testing", "site-packages", "dist-packages", "_vendor"})
_MAX_SOURCE_BYTES = 2_000_000


@dataclass(frozen=True)
class Doc:
    source_uri: str
    title: str
    text: str


@dataclass(frozen=True)
class Turn:
    dia_id: str
    start: int  # character offsets of the turn's line in its session text (newline excluded)
    end: int


@dataclass(frozen=True)
class Session:
    """One LoCoMo session as a document, with where each turn sits in its text."""

    sample_id: str
    number: int
    doc: Doc
    turns: tuple[Turn, ...]


def locomo_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The LoCoMo file: the argument, else $AGENTMEM_LOCOMO, else the shared data folder next to the repo."""
    chosen = path or os.environ.get(LOCOMO_ENV) or SHARED_DATA / "locomo10.json"
    return Path(chosen).expanduser().resolve()


def load_locomo(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    found = locomo_path(path)
    if not found.is_file():
        raise FileNotFoundError(f"LoCoMo data not found at {found}; pass its path or set {LOCOMO_ENV}")
    with found.open(encoding="utf-8") as f:
        data: list[dict[str, Any]] = json.load(f)
    return data


def turn_text(turn: dict[str, Any]) -> str:
    """A turn as one chat line (its own line breaks become spaces); an image turn shows its caption."""
    text = str(turn.get("text") or "").strip()
    caption = turn.get("blip_caption")
    if caption:
        text = f"{text} [shares an image: {caption}]".strip()
    return f"{turn['speaker']}: " + re.sub(r"\s*\n\s*", " ", text)


def session_numbers(conversation: dict[str, Any]) -> list[int]:
    """Numbers of the sessions that have turns (there can be more date keys than sessions)."""
    found = (re.fullmatch(r"session_(\d+)", k) for k in conversation)
    return sorted(int(m.group(1)) for m in found if m and isinstance(conversation[m.group(0)], list))


def build_session(sample_id: str, conversation: dict[str, Any], number: int) -> Session:
    """A dated header line, then one line per turn; records each turn's character span."""
    when = conversation.get(f"session_{number}_date_time", "")
    header = f"Conversation between {conversation['speaker_a']} and {conversation['speaker_b']}, session {number}"
    lines = [f"{header} ({when})" if when else header]
    turns: list[Turn] = []
    offset = len(lines[0]) + 1
    for raw in conversation[f"session_{number}"]:
        line = turn_text(raw)
        turns.append(Turn(str(raw["dia_id"]), offset, offset + len(line)))
        lines.append(line)
        offset += len(line) + 1
    text = "\n".join(lines) + "\n"
    title = f"{sample_id} session {number}" + (f" ({when})" if when else "")
    return Session(sample_id, number, Doc(f"locomo://{sample_id}/session_{number}", title, text), tuple(turns))


def locomo_sessions(data: list[dict[str, Any]]) -> Iterator[Session]:
    for sample in data:
        conversation = sample["conversation"]
        for number in session_numbers(conversation):
            yield build_session(str(sample["sample_id"]), conversation, number)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    try:
        return f"{node.name}({ast.unparse(node.args)})"
    except Exception:  # an odd node ast.unparse cannot print: the name is enough
        return f"{node.name}(...)"


def _doc_sections(body: list[ast.stmt], prefix: str) -> Iterator[str]:
    """Public classes and functions with a docstring, depth first, as 'heading\\n\\ndocstring'."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            doc = ast.get_docstring(node, clean=True)
            if isinstance(node, ast.ClassDef):
                if doc:
                    yield f"class {prefix}{node.name}\n\n{doc.strip()}"
                yield from _doc_sections(node.body, f"{prefix}{node.name}.")
            elif doc:
                yield f"{prefix}{_signature(node)}\n\n{doc.strip()}"


def module_doc(path: Path, module: str, uri_scheme: str) -> Doc | None:
    """One module's docstrings as one reference page, or None if it has none (or does not parse)."""
    try:
        source = path.read_bytes()
        if len(source) > _MAX_SOURCE_BYTES:
            return None
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError, OSError, RecursionError):
        return None
    sections = []
    doc = ast.get_docstring(tree, clean=True)
    if doc and doc.strip():
        sections.append(doc.strip())
    sections.extend(_doc_sections(tree.body, ""))
    if not sections:
        return None
    text = f"Module {module}\n\n" + "\n\n".join(sections) + "\n"
    return Doc(f"{uri_scheme}://{module}", f"{module} (Python {uri_scheme} docs)", text)


def _module_files(root: Path) -> list[tuple[str, Path]]:
    out = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if not parts or not all(p.isidentifier() for p in parts):
            continue  # not importable by that name (a script, a versioned folder)
        out.append((".".join(parts), path))
    return sorted(out)


def docstring_docs(root: Path, uri_scheme: str) -> Iterator[Doc]:
    seen: set[str] = set()
    for module, path in _module_files(root):
        doc = module_doc(path, module, uri_scheme) if module not in seen else None
        if doc is not None:  # a name found twice (pkg/__init__.py and pkg.py): the first one wins
            seen.add(module)
            yield doc


def iter_documents(locomo: str | os.PathLike[str] | None = None) -> Iterator[Doc]:
    """Every document of the corpus, in a fixed order: conversations, stdlib docs, site-packages docs."""
    for session in locomo_sessions(load_locomo(locomo)):
        yield session.doc
    paths = sysconfig.get_paths()
    yield from docstring_docs(Path(paths["stdlib"]), "stdlib")
    yield from docstring_docs(Path(paths["purelib"]), "site-packages")


def take_chunks(docs: Iterable[Doc], target_chunks: int, chunk_tokens: int) -> Iterator[tuple[Doc, list[Chunk]]]:
    """Documents with their chunks, until at least `target_chunks` chunks of `chunk_tokens` are reached."""
    total = 0
    for doc in docs:
        if total >= target_chunks:
            return
        chunks = chunk_text(doc.text, chunk_tokens)
        if chunks:
            total += len(chunks)
            yield doc, chunks
    if total < target_chunks:
        raise ValueError(f"the corpus has only {total:,} chunks of {chunk_tokens} tokens; asked for {target_chunks:,}")
