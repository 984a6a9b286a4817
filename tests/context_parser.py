"""A strict parser of the context's grammar (retrieval/render.py), written apart from the renderer so the
property tests can check that what is parsed back is exactly what was stored.

Lines are `str.splitlines` lines: any of its boundaries (Unicode separators included) ends one.
Anything that does not follow the grammar raises ContextSyntaxError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agentmem.retrieval.render import (
    AGENT_TASK_HEADER, CONTINUATION, LONG_HEADER, PINNED_HEADER, SCRATCH_HEADER, SEP, preamble,
)

TASK_HEADERS = (PINNED_HEADER, AGENT_TASK_HEADER)

HEADINGS = {SCRATCH_HEADER: "scratchpad", LONG_HEADER: "long_term"}
_NONCE = re.compile(r"<<<DATA ([0-9]+) ")
_UNESCAPE = {"\\": "\\", "|": "|", "]": "]", "~": "~", "n": "\n", "r": "\r", "v": "\x0b", "f": "\x0c",
             "x1c": "\x1c", "x1d": "\x1d", "x1e": "\x1e", "x85": "\x85", "u2028": "\u2028", "u2029": "\u2029"}
_LEGEND_START, _LEGEND_END = '(a source written "~x" is "', 'x")\n'


class ContextSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Item:
    ref: str
    summarized: bool
    trust: str
    flags: tuple[str, ...]
    kind: str | None
    source: str
    text: str


@dataclass
class Section:
    tier: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Context:
    pinned: str | None
    sections: list[Section]
    nonce: str | None

    def items(self) -> list[Item]:
        return [i for s in self.sections for i in s.items]


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise ContextSyntaxError(what)


def parse(context: str | list[dict[str, str]]) -> Context:
    """Either output format: the messages are the text's two halves (the system message: how to read
    the context and the pinned task; the user message: the data blocks)."""
    if isinstance(context, str):
        return parse_text(context)
    roles = [m["role"] for m in context]
    _expect(roles in ([], ["system"], ["system", "user"]), f"unexpected roles {roles}")
    if len(context) == 2:
        _expect(context[0]["content"].startswith(preamble(_nonce_of(context[0]["content"]))),
                "the system message of a context with data starts with the preamble")
    return parse_text(SEP.join(m["content"] for m in context))


def _nonce_of(text: str) -> str:
    m = _NONCE.search(text.split("\n", 1)[0])
    _expect(m is not None, "no nonce in the first line")
    return m.group(1)  # type: ignore[union-attr]


def parse_text(text: str) -> Context:
    if not text:
        return Context(None, [], None)
    if text.startswith(TASK_HEADERS):  # no data: the operator's task alone, and no preamble
        return Context(text, [], None)
    nonce = _nonce_of(text)
    first = preamble(nonce) + SEP
    _expect(text.startswith(first), "the context starts with the preamble")
    rest = text[len(first):]
    at = rest.find(f"\n<<<DATA {nonce}\n")
    _expect(at >= 0, "a context with a preamble has a data block")
    heading = next((h for h in HEADINGS if rest[:at].endswith(h)), None)
    _expect(heading is not None, "a data block opens under a known heading")
    before = rest[: at - len(heading)]  # type: ignore[arg-type]
    pinned = None
    if before:
        _expect(before.endswith(SEP) and before.startswith(TASK_HEADERS), "only the task comes before the data")
        pinned = before[: -len(SEP)]
    return Context(pinned, _parse_blocks(rest[len(before):], nonce), nonce)


def _parse_blocks(text: str, nonce: str) -> list[Section]:
    lines = text.splitlines(keepends=True)
    sections: list[Section] = []
    i = 0
    while i < len(lines):
        if sections:
            _expect(lines[i] == "\n", "sections are separated by one blank line")
            i += 1
        heading = lines[i].removesuffix("\n")
        _expect(heading in HEADINGS and lines[i].endswith("\n"), f"heading expected, got {lines[i]!r}")
        _expect(lines[i + 1] == f"<<<DATA {nonce}\n", "the heading is followed by the opening delimiter")
        section = Section(HEADINGS[heading])
        i += 2
        base = None
        if section.tier == "long_term" and lines[i].startswith(_LEGEND_START):
            _expect(lines[i].endswith(_LEGEND_END), "a legend ends its line")
            base = unescape(lines[i][len(_LEGEND_START): -len(_LEGEND_END)])
            i += 1
        while lines[i].startswith("["):
            j = i + 1
            while j < len(lines) and lines[j].startswith(CONTINUATION):
                j += 1
            section.items.append(_parse_item(lines[i:j], base))
            i = j
        close = f"DATA {nonce}>>>"
        _expect(lines[i] in (close, close + "\n"), f"closing delimiter expected, got {lines[i]!r}")
        _expect(lines[i] == close or i + 1 < len(lines), "no line break after the last block")
        _expect(section.items != [], "a data block holds at least one item")
        sections.append(section)
        i += 1
    return sections


def _parse_item(lines: list[str], base: str | None) -> Item:
    """`lines`: the header line and its continuation lines, each with its line break."""
    first = lines[0]
    fields, end = _header(first)
    _expect(len(fields) in (3, 4), f"a header has 3 or 4 fields: {fields}")
    raw = first[end + 1:] + "".join(line[len(CONTINUATION):] for line in lines[1:])
    _expect(raw.endswith("\n"), "an item ends with the context's line break")
    raw = raw[:-1]
    if raw:
        _expect(raw.startswith(" "), "the text follows its header after one space")
        raw = raw[1:]
    ref = unescape(fields[0])
    summarized = ref.startswith("summary of ")
    trust, _, flags = unescape(fields[1]).partition(", flags: ")
    kind = unescape(fields[2]) if len(fields) == 4 else None
    src = fields[-1]
    if src.startswith("~"):
        _expect(base is not None, "a ~ source needs the legend")
        source = base + unescape(src[1:])  # type: ignore[operator]
    else:
        source = unescape(src)
    return Item(ref.removeprefix("summary of "), summarized, trust, tuple(flags.split(", ")) if flags else (),
                kind, source, raw)


def _header(line: str) -> tuple[list[str], int]:
    """The header's escaped fields, and the index of its closing bracket."""
    fields, cur, k = [], [], 1
    while k < len(line):
        ch = line[k]
        if ch == "\\":
            cur.append(line[k: k + 2])
            k += 2
            continue
        if ch == "|" or ch == "]":
            fields.append("".join(cur))
            cur = []
            if ch == "]":
                break
        else:
            _expect(ch not in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", "a header is one line")
            cur.append(ch)
        k += 1
    _expect(k < len(line), "a header ends with ]")
    out = []
    for n, f in enumerate(fields):  # " | " between fields: one space each side
        if n > 0:
            _expect(f.startswith(" "), "a space after each |")
            f = f[1:]
        if n < len(fields) - 1:
            _expect(f.endswith(" "), "a space before each |")
            f = f[:-1]
        out.append(f)
    return out, k


def unescape(s: str) -> str:
    out, k = [], 0
    while k < len(s):
        if s[k] != "\\":
            out.append(s[k])
            k += 1
            continue
        code = next((c for c in sorted(_UNESCAPE, key=len, reverse=True) if s.startswith(c, k + 1)), None)
        _expect(code is not None, f"unknown escape in {s!r}")
        out.append(_UNESCAPE[code])  # type: ignore[index]
        k += 1 + len(code)  # type: ignore[arg-type]
    return "".join(out)
