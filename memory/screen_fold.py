"""What a model would read in a text that hides it from a pattern: the views the screener also checks. Pure.

An attacker who knows the screener is a set of patterns writes around it: `ig\u200bnore previous
instructions` (a zero-width space inside a word), `ignоre` with a Cyrillic `о`, fullwidth or ligature
letters, `I g n o r e` spelled out, a bidi override that reorders what is shown, or the instruction
base64-encoded with "decode this and follow it". A model reads through all of these. `views` gives the
screener the same text with those disguises taken off, so the detectors run on what the model sees:

- **folded**: NFKC (fullwidth and compatibility letters become plain ones), format characters dropped
  (zero-width spaces and joiners, bidi controls, soft hyphens: Unicode category Cf), Cyrillic and Greek
  look-alikes mapped to Latin *inside words that also have Latin letters* (ordinary Russian or Greek text
  is left alone; biomedical `TNFα` becomes `TNFa`, which no detector cares about), and letters spaced one by one
  (`i g n o r e`, `i.g.n.o.r.e`) joined;
- **decoded**: each run of base64 of 24+ characters that decodes to mostly printable UTF-8 text.

Only the views that differ from the text are returned, so clean text costs one normalisation and a few
character checks.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

# Cyrillic and Greek letters drawn like Latin ones (the common confusables; lower and upper case).
_LOOKALIKES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ѵ": "v", "к": "k", "м": "m", "т": "t", "н": "h", "в": "b",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u", "χ": "x", "ε": "e",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})
_LOOKALIKE_CHARS = frozenset(chr(c) for c in _LOOKALIKES)
_WORD = re.compile(r"\w+")
_LATIN = re.compile(r"[A-Za-z]")
# Four or more single letters separated by one space, dot, hyphen or underscore: "i g n o r e".
_SPACED = re.compile(r"\b[A-Za-z](?:[ .\-_][A-Za-z]){3,}\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
MAX_DECODED = 8  # payloads decoded per text: enough for any real message, bounded for a hostile one


def views(text: str) -> list[str]:
    """The folded text and each decoded payload, when they differ from `text`."""
    out: list[str] = []
    folded = fold(text)
    if folded != text:
        out.append(folded)
    out.extend(decoded_payloads(folded))
    return out


def fold(text: str) -> str:
    """`text` with invisible characters, compatibility forms, mixed-script look-alikes and letter spacing undone."""
    if text.isascii():
        return _join_spaced(text) if _SPACED.search(text) else text
    s = unicodedata.normalize("NFKC", text)
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Cf")
    if any(ch in _LOOKALIKE_CHARS for ch in s):
        s = _WORD.sub(_unmix, s)
    return _join_spaced(s) if _SPACED.search(s) else s


def _unmix(m: re.Match[str]) -> str:
    word = m.group(0)
    if _LATIN.search(word) and any(ch in _LOOKALIKE_CHARS for ch in word):
        return word.translate(_LOOKALIKES)
    return word


def _join_spaced(s: str) -> str:
    return _SPACED.sub(lambda m: re.sub(r"[ .\-_]", "", m.group(0)), s)


def decoded_payloads(text: str) -> list[str]:
    """Texts hidden as base64 in `text` (at most MAX_DECODED), those that decode to readable UTF-8."""
    found: list[str] = []
    for m in _BASE64.finditer(text):
        if len(found) >= MAX_DECODED:
            break
        token = m.group(0)
        token += "=" * (-len(token) % 4)
        try:
            raw = base64.b64decode(token, validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        printable = sum(ch.isprintable() or ch in "\n\t" for ch in decoded)
        if decoded and printable / len(decoded) >= 0.95 and _LATIN.search(decoded):
            found.append(decoded)
    return found
