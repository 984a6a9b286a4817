"""Find instructions aimed at the model inside stored content (prompt injection). Pure.

Stored text is data; a sentence in it that tries to steer the model reading it is an attack,
whoever wrote it. Each detector below names one way such a sentence gives itself away:

- `override`: asks the reader to drop what it was told (ignore the previous/above instructions,
  disregard everything except, IMPORTANT!!!, new instructions).
- `role_marker`: forges a turn or a channel (`System:`, `Assistant:` / `User:` lines, `<|im_start|>`,
  `[system]`, `<end of session>`, `-- CORE INSTRUCTION`).
- `addressed_to_model`: speaks to the AI reading it (note to automated analysis software, if the user
  asks ... reply with, in your response, before you solve the task I gave you, to you, GPT-4).
- `exfiltration`: leaks through a link or a message (Markdown image whose URL carries data,
  send/forward ... to an e-mail address, passwords or secrets appended to a URL).
- `hijack_request`: a request to act on someone's accounts with their tools ("Please transfer
  $500 from my account", "retrieve my saved addresses and email them to ..."): an imperative or
  polite request whose verb moves money, access, data or devices and whose object is the
  writer's own ("my ...").
- `obfuscation`: one of the above, found only once the text's disguises are taken off (zero-width
  characters, look-alike letters, spaced-out letters, base64: `memory/screen_fold.py`).

It is tuned for precision on text that talks *about* instructions, passwords and prompts
(documentation, ordinary e-mails, tool outputs): a detector fires on shapes, not on topic words.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agentmem.memory.screen_fold import views

_I = re.IGNORECASE
_IM = re.IGNORECASE | re.MULTILINE

# Things an instruction can tell the model to drop. Words that point back at what came before
# ("previous", "all", "your") name it with any noun; a plain determiner ("any", "the") only with a noun for
# instructions: "ignore any information that does not come from a trial" is ordinary prose, not an attack.
_PRIOR = r"(?:previous|prior|above|earlier|preceding|foregoing|original|initial|system|all|your|rest)"
_DETERMINER = r"(?:any|other|the|these|those)"
_ORDER_WORDS = r"instructions?|prompts?|rules|directions?|guidelines|commands?|orders|tasks?|constraints|guidance"
_ORDERS = r"(?:" + _ORDER_WORDS + r")"
_RULES = r"(?:" + _ORDER_WORDS + r"|context|data|text|content|information|info|messages?|documents?|snippets?|indicators)"

_MODEL_NOUN = (r"(?:AI|A\.I\.|assistant|chat\s?bot|bot|LLM|language\s+model|model|agent|GPT-?\w*|ChatGPT|Claude|"
               r"Gemini|Bard|Copilot|Llama|automated\s+(?:analysis|screening|review)?\s*(?:software|systems?|tools?|agents?))")
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"

# (flag, literal triggers, pattern): a pattern runs only when one of its triggers is in the lower-cased
# text, so ordinary text costs a few substring checks instead of a dozen regex scans.
_RULES_TABLE: tuple[tuple[str, tuple[str, ...], str, int], ...] = (
    ("override", ("ignore", "disregard", "forget", "override"),
     r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}?\b" + _PRIOR + r"\b[^.\n]{0,30}?\b" + _RULES + r"\b"
     r"|\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}?\b" + _DETERMINER + r"\b[^.\n]{0,30}?\b" + _ORDERS + r"\b"
     r"|\b(?:ignore|disregard|forget)\b[^.\n]{0,40}?\b" + _RULES + r"\s+(?:above|before\s+this|so\s+far)\b"
     r"|\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:(?:of\s+)?(?:the\s+)?(?:above|previous|prior)\b|instructions\b|"
      r"everything\s+(?:above|before|else|you\s+(?:were|have\s+been)\s+told))"
     r"|\bdisregard\s+(?:all|everything)\b[^.\n]{0,30}\bexcept\b"
     r"|\boverride\s+(?:manual|the|all|any)\b[^.\n]{0,30}\b(?:and|to)\s+(?:output|print|say|respond|reply)\b", _I),
    ("override", ("!!", "new ", "pwned", "developer mode", "dan mode", "jailbr", "you are now", "you must now",
                  "you will now", "you have been", "deviate"),
     (r"\bIMPORTANT\s*!{2,}|\bnew\s+(?:instructions?|task|objective|goal)\s*:"
     r"|\bpwned\b|\bdeveloper\s+mode\b|\bDAN\s+mode\b|\bjailbr(?:oken|eak)\b"
     r"|\byou\s+are\s+now\s+(?:an?\s+|the\s+|in\s+\w+\s+mode|DAN\b|free\b|no\s+longer\b|unrestricted|jailbroken)"
      r"|\byou\s+(?:must\s+now|will\s+now|have\s+been\s+(?:reprogrammed|updated))\b"
     r"|\byou\s+may\s+not\s+deviate\b|\bdo\s+not\s+deviate\s+from\b"), _I),
    ("override", ("instead ", "only "),
     r"\b(?:instead|only)\s+(?:focus|respond|reply|answer|output)\b[^.\n]{0,40}\b(?:following|brackets?)\b", _I),
    ("role_marker", ("<|", "[", "(#", "<"),
     (r"<\|\s*(?:im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id)\s*\|>"
     r"|\[\s*(?:system|assistant|INST|/INST|SYS)\s*\]|\(#(?:system|context|assistant|user)\)"
     r"|<\s*/?\s*(?:system|instructions?|information|admin|sys)\s*>"
     r"|<\s*end\s+of\s+(?:session|conversation|context|document|data)\s*>"), _I),
    ("role_marker", ("system:", "assistant:", "user:", "human:", "ai:", "system :", "assistant :", "user :"),
     r"^[\s>#*-]*(?:system|assistant|user|human|AI)\s*:\s*(?=\S)", _IM),
    ("role_marker", ("end of", "start of", "--", "chain of thought", "system message", "hidden", "secret", "##"),
     (r"\b(?:end|start)\s+of\s+(?:system\s+)?(?:prompt|instructions)\b"
     r"|^\s*-{2,}\s*[A-Z ]*(?:INSTRUCTION|AMENDMENT)"
     r"|\b(?:system|hidden|secret)\s+(?:chain\s+of\s+thought|message|override|note|directive)\s*(?:result\b|:)"
     r"|#{2,}\s*\(?system"), _IM),
    ("addressed_to_model", ("note to", "dear", "hey", "hi ", "attention", "instructions for", "to you,", "for you,"),
     r"\bnote\s+to\s+(?:the\s+|any\s+|all\s+)?" + _MODEL_NOUN
     + r"|\b(?:dear|hey|hi|attention|instructions?\s+for(?:\s+the)?)\s+" + _MODEL_NOUN + r"\b"
     r"|\b(?:to|for)\s+you,\s+" + _MODEL_NOUN, _I),
    ("addressed_to_model", (",", ":"),
     r"^[\s>*-]*" + _MODEL_NOUN + r"\s*[,:]\s*(?:please|you|ignore|do|don't|from|now|always|never|respond|reply|print|"
     r"say|output|tell)\b", _IM),
    ("addressed_to_model", ("if ", "when", "asked"),
     (r"\b(?:if|when|whenever)\s+(?:the\s+)?(?:user|human|someone|anyone|you\s+are|you're)\s+(?:asks?|asked|requests?|wants?|"
     r"summariz\w*)\b[^.\n]{0,80}?\b(?:reply|respond|answer|say|print|output|write|tell)\b"
     r"|\b(?:if|when)\s+asked\s+(?:how|about|for|to|whether|what)\b[^.\n]{0,80}?\b(?:reply|respond|answer|say|print|"
     r"output|write|tell)\b"), _I),
    ("addressed_to_model", ("your response", "your reply", "your answer", "your output", "your summary",
                            "your final answer", "your next message"),
     (r"\b(?:in|at\s+the\s+(?:start|end)\s+of)\s+your\s+(?:response|reply|answer|output|summary|final\s+answer|next\s+message)\b"
     r"|\byour\s+(?:response|reply|answer|output)\s+(?:must|should|shall)\b"), _I),
    ("addressed_to_model", ("before you", "after you", "before solv", "before complet", "before answer", "before respond",
                            "before summar", "before do", "after solv", "after complet", "after answer", "after respond",
                            "instead of", "gave you", "important message", "important instruction", "important note"),
     (r"\b(?:before|after|instead\s+of)\s+(?:you\s+)?(?:can\s+)?(?:solv|complet|finish|answer|respond|do|doing|summariz)\w*"
     r"\s+(?:the|your|this)\s+(?:original\s+)?(?:task|request|question|summary)\b"
     r"|\b(?:the\s+)?task\s+(?:that\s+)?I\s+gave\s+you\b"
     r"|\bimportant\s+(?:message|instructions?|note)\s+from\s+(?:me|the\s+user|your\s+user|the\s+developers?|the\s+admin)"), _I),
    ("addressed_to_model", ("only",),
     r"\b(?:reply|respond|answer)\s+(?:with\s+)?only\s+(?:with\s+)?(?:the\s+following|this|\")", _I),
    ("addressed_to_model", ("print", "output", "repeat", "write", "say "),
     (r"\b(?:print|output|repeat|write)\s+(?:only\s+)?(?:exactly\s+|out\s+)?(?:the\s+following|this\s+(?:text|sentence|message))"
     r"|\bsay\s+(?:only\s+)?(?:exactly\s+)?(?:the\s+following|this\s+(?:text|sentence|message))"), _I),
    ("addressed_to_model", ("just ", "simply "), r"\b(?:just|simply)\s+(?:print|output|say|respond|reply)\s+(?:with\s+)?(?:[\"'<“!\[]|the\s+following|this\b|only\b)", _I),
    ("addressed_to_model", ("respond", "reply", "answer", "write your", "write the"),
     (r"\b(?:respond|reply|answer|write\s+(?:your|the)\s+(?:response|reply|answer))\s+(?:only\s+)?(?:in|using|with)\s+"
      r"(?:all\s+caps|capital\s+letters|uppercase|lowercase|emojis?|base64|morse(?:\s+code)?|pig\s+latin|rhymes?|verse|"
      r"French|Spanish|German|Italian|Chinese|Japanese|Russian|Portuguese|Korean|Arabic|Hindi|Dutch|"
      r"a\s+(?:different|foreign)\s+language)\b"), _I),
    ("addressed_to_model", ("the user", "the human"),
     (r"\b(?:do\s+not|don't|never)\s+(?:tell|inform|notify|alert|warn|mention\s+(?:this|it)\s+to|reveal\s+(?:this|it)\s+to)"
      r"\s+(?:the\s+)?(?:user|human)\b|\bwithout\s+(?:telling|informing|notifying|alerting|asking)\s+the\s+(?:user|human)\b"), _I),
    ("addressed_to_model", ("instead of", "rather than"),
     r"\b(?:instead\s+of|rather\s+than)\s+(?:summariz|answer|translat|respond|repl|doing\s+what)\w*", _I),
    ("override", ("from now on", "henceforth", "rest of this conversation", "rest of the conversation"),
     (r"\b(?:from\s+now\s+on|henceforth|for\s+the\s+rest\s+of\s+(?:this|the)\s+conversation),?\s+(?:you\s+(?:will|must|shall|"
      r"are\s+to)|respond|reply|answer|act\s+as|behave\s+as|only\s+(?:respond|reply|answer))\b"), _I),
    ("addressed_to_model", ("for llm", "for ai", "for language model", "for automated", "invisible to humans"),
     (r"\bfor\s+(?:LLMs?|AI|language\s+models|automated\s+\w+)\b[^.\n]{0,30}\b(?:only|visible|scan)\b"
     r"|\binvisible\s+to\s+humans\b"), _I),
    ("exfiltration", ("![",),
     r"!\[[^\]\n]*\]\(\s*https?://[^)\s]*[?&][\w-]+=|!\[[^\]\n]*\]\(\s*https?://[^)\s]*\)\s*$", _IM),
    ("exfiltration", ("@",),
     r"\b(?:send|e-?mail|forward|share|post|upload|transmit|leak|exfiltrate)\b[^.\n]{0,120}?\bto\b[^.\n]{0,30}?" + _EMAIL,
     _I),
    ("exfiltration", ("password", "secret", "api key", "api_key", "api-key", "apikey", "credential", "token"),
     r"\b(?:send|e-?mail|forward|upload|post|exfiltrate|append)\b[^.\n]{0,60}\b(?:api[ _-]?keys?|passwords?|secrets?|"
     r"credentials|tokens?)\b[^.\n]{0,40}\b(?:to|into)\b[^.\n]{0,20}(?:https?://|url|link|" + _EMAIL + r")"
     r"|\b(?:passwords?|secrets?)\b[^.\n]{0,40}\bappend\b", _I),
    ("exfiltration", ("conversation", "chat", "message", "prompt"),
     (r"\bappend\b[^.\n]{0,80}\b(?:conversation|chat\s+history|summary\s+of\s+the\s+page)\b"
     r"|\b(?:replace|append|include|insert|add)\b[^.\n]{0,60}\bwith\s+(?:the\s+|our\s+)?(?:previous|last|prior|whole|"
     r"entire)\s+(?:message|conversation|chat|messages|prompt)\b"), _I),
)


def _any_of(words: tuple[str, ...]) -> re.Pattern[str]:
    """A pattern found in a text exactly when one of `words` is a substring of it (never, for none)."""
    return re.compile("|".join(re.escape(w) for w in words) if words else r"(?!)")


# Each rule's trigger words as one alternation: "does the lowered text contain any of them" is then one C
# scan instead of a Python loop over the words (the same answer; assembly screens ~100 texts a call).
_RULES_COMPILED = tuple((flag, _any_of(triggers), re.compile(pattern, flags)) for flag, triggers, pattern, flags in _RULES_TABLE)


# A request to act with the reader's tools on someone's accounts, devices or data.
_ACT = (r"(?:transfer|grant|unlock|lock|deposit|sell|buy|withdraw|pay|initiate|create|update|move|dispatch|schedule|delete|"
        r"remove|change|redirect|guide|use|disable|enable|share|leave|give|retrieve|retrive|list|get|generate|fetch|download|"
        r"find|search|access|check|provide|send|email|e-mail|forward|post|publish|cancel|reset|set|add|install|open|close|"
        r"turn|book|order|approve|invite|upload|export|modify|edit|wire|reveal|disclose|print|copy|erase|wipe)")
# A clause (at a sentence start, after punctuation or a quote): optional politeness, then the verb.
_CLAUSE = re.compile(
    r"\s*(?:(?:first|now|also|then|next|finally|and),?\s+)?"
    r"(?P<polite>please|kindly|(?:can|could|would|will)\s+you(?:\s+please)?|i\s+(?:want|need)\s+you\s+to|"
    r"you\s+(?:must|should|need\s+to))?\s*" + _ACT + r"\b",
    _I,
)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n")
_CLAUSE_STARTS = re.compile(r"[.!?:;,\"'(\[{]")
_FIRST_PERSON = re.compile(r"\b(?:my|me|mine|I'm)\b", _I)
# Verbs that move money, access, data or devices: a request with one of them is not small talk.
_STRONG = re.compile(
    r"^\s*(?:(?:first|now|also|then|next|finally|and),?\s+)?(?:please\s+|kindly\s+|(?:can|could|would)\s+you\s+(?:please\s+)?)?"
    r"(?:transfer|grant|unlock|deposit|sell|withdraw|initiate\s+a\s+(?:payment|transfer)|dispatch|delete|redirect|disable|"
    r"wire|reveal|disclose|erase|wipe|move\s+(?:all\s+)?(?:the\s+)?files|update\s+(?:my|\w+\s+\w+'s)|"
    r"change\s+the\s+(?:sharing|password|permissions?|settings|state|email)|share\s+(?:my|the\s+password)|give\s+priority|"
    r"retrieve|retrive|download\s+my|leave\s+the|guide\s+the|schedule\s+the|schedule\s+an?\s+appointment)\b",
    _I,
)
_EMAIL_RE = re.compile(_EMAIL)
_STRONG_TRIGGERS = ("@", "transfer", "grant", "unlock", "deposit", "sell", "withdraw", "initiate", "dispatch", "delete",
                    "redirect", "disable", "wire", "reveal", "disclose", "erase", "wipe", "move", "update", "change",
                    "share", "give", "retrieve", "retrive", "download", "leave", "guide", "schedule")
FLAGS = ("override", "role_marker", "addressed_to_model", "exfiltration", "hijack_request", "obfuscation")
_ADDRESS_TRIGGERS = ("please", "kindly", "you", "my", "me", "i'm")
_HIJACK_TRIGGERS = ("please", "kindly", " you", " my ", "my ", " me")


def _hijack(text: str, low: str) -> bool:
    """A request to act on accounts or devices. "Please send me the slides" in a letter to a person is
    common, so a request fires only with a strong verb and a first-person object, with a strong verb
    after "please", or with an outside e-mail address as the destination."""
    if not any(t in low for t in _HIJACK_TRIGGERS) or not any(t in low for t in _STRONG_TRIGGERS):
        return False
    for sentence in _SENTENCES.split(text):
        if len(sentence) < 12:
            continue
        ls = sentence.lower()
        if not any(t in ls for t in _STRONG_TRIGGERS) or not any(t in ls for t in _ADDRESS_TRIGGERS):
            continue
        for pos in (0, *(m.end() for m in _CLAUSE_STARTS.finditer(sentence))):
            m = _CLAUSE.match(sentence, pos)
            if m is None:
                continue
            clause = sentence[pos:m.end() + 160]
            strong = _STRONG.match(clause) is not None
            if strong and (m.group("polite") or _FIRST_PERSON.search(clause)):
                return True
            if _FIRST_PERSON.search(clause) and _EMAIL_RE.search(clause):
                return True
    return False


def screen(text: str) -> list[str]:
    """Names of the detectors that fire on `text` (empty when none), in a fixed order.

    Assembly screens every candidate again on each call (items stored before the screener changed are
    marked too); the same chunks come back call after call, so results are memoised by text."""
    return list(_screen(text)) if text else []


@lru_cache(maxsize=16384)
def _screen(text: str) -> tuple[str, ...]:
    found = _detect(text)
    for view in views(text):
        hidden = _detect(view) - found
        if hidden:
            found |= hidden | {"obfuscation"}
    return tuple(f for f in FLAGS if f in found)


def _detect(text: str) -> set[str]:
    low = text.lower()
    found: set[str] = set()
    for flag, triggers, pattern in _RULES_COMPILED:
        if flag not in found and triggers.search(low) and pattern.search(text):
            found.add(flag)
    if _hijack(text, low):
        found.add("hijack_request")
    return found


def screen_fields(fields: dict[str, str | None]) -> dict[str, list[str]]:
    """Screen every field that reaches a context; only fields with flags appear in the answer."""
    out: dict[str, list[str]] = {}
    for name, value in fields.items():
        if value:
            flags = screen(value)
            if flags:
                out[name] = flags
    return out
