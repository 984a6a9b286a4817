"""What every request body shares: unknown fields and what PostgreSQL cannot store are refused, never stripped."""

from __future__ import annotations

import math
import uuid
import re
from datetime import datetime, timezone
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unstorable_text(value: str, where: str) -> str | None:
    if NUL in value:
        return f"{where} contains a NUL character (\\u0000), which cannot be stored; remove it and retry"
    if _SURROGATE.search(value):
        return f"{where} contains an unpaired surrogate (\\ud800-\\udfff), which is not valid Unicode; send valid UTF-8"
    return None


def unstorable(value: Any, path: str = "body") -> str | None:
    """What in this parsed JSON PostgreSQL cannot store (NUL, lone surrogates, NaN/Infinity), naming where."""
    if isinstance(value, str):
        return _unstorable_text(value, path)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} is {value}, which JSON cannot store; send a finite number or a string"
    if isinstance(value, dict):
        for k, v in value.items():
            found = (isinstance(k, str) and _unstorable_text(k, f"{path}.{k!r}")) or unstorable(v, f"{path}.{k}")
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = unstorable(v, f"{path}[{i}]")
            if found:
                return found
    return None


class Input(BaseModel):
    """Every request body: unknown fields refused, and what PostgreSQL cannot store refused, never stripped."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable(cls, data: Any) -> Any:
        problem = unstorable(data)
        if problem:
            raise ValueError(problem)
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_a_boolean_as_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """Pydantic would read `"budget_tokens": true` as 1: a client's mistake, answered as one."""
        if isinstance(value, bool) and info.field_name is not None and _numeric(cls.model_fields[info.field_name].annotation):
            raise ValueError("must be a number, not true or false")
        return value


def _numeric(annotation: Any) -> bool:
    """int or float, alone or with None."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in (int, float) for a in args)
    return annotation in (int, float)


# Characters that show nothing: zero-width and joiners, bidirectional marks and isolates, the soft hyphen,
# word joiner and invisible operators, the byte-order mark, and the tag block (text hidden from a reader
# but read by a model). A value of only these and whitespace is as empty as "": a citation source of
# "\u200b" is no source.
_VISIBLE = re.compile("[^\\s\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
                      "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]")


def blank(value: str) -> bool:
    """Nothing a reader would see: empty, whitespace, or invisible characters only."""
    return _VISIBLE.search(value) is None


def _not_blank(v: str) -> str:
    if blank(v):
        raise ValueError("must not be empty or only whitespace (or invisible characters)")
    return v


def _utc(v: datetime | None) -> datetime | None:
    """A naive timestamp is taken as UTC. One that falls outside years 1-9999 once in UTC
    ("9999-12-31T23:59:59-14:00") is refused: PostgreSQL would store it, and no read could load it back."""
    if v is None:
        return v
    if v.tzinfo is None:
        return v.replace(tzinfo=timezone.utc)
    try:
        v.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("falls outside the years 1-9999 once converted to UTC;"
                         " send a time between 0001-01-01 and 9999-12-31 in UTC") from None
    return v


Text = Annotated[str, Field(min_length=1), AfterValidator(_not_blank)]
Timestamp = Annotated[datetime, AfterValidator(_utc)]
Origin = Literal["operator", "agent", "tool", "web", "user"]  # memory/provenance.py
TrustLevel = Literal["untrusted", "verified", "trusted"]  # lowest first


class WrittenBy(BaseModel):
    """Provenance: the key that wrote an item (its label may name an agent, a tool, a person)."""

    key_id: uuid.UUID
    label: str | None  # None: the key's row is gone
