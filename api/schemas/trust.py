"""The namespace's trust rules at the API edge (memory/provenance.py holds the logic)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agentmem.api.schemas.base import Input, Origin, TrustLevel


class SourceRuleIn(Input):
    prefix: str = Field(max_length=2000, description="Matched against the start of an item's source_uri")
    trust: TrustLevel
    origins: list[Origin] | None = Field(
        default=None, description="Only items of these origins (default: any). E.g. kb:// trusted only when an"
                                  " operator wrote it: an agent may write any source_uri.")


class TrustRulesIn(Input):
    """An item's trust: the longest matching source prefix rule, else its origin's level, else untrusted."""

    sources: list[SourceRuleIn] = Field(default_factory=list, max_length=100)
    origins: dict[Origin, TrustLevel] = Field(default_factory=dict)


class SourceRuleOut(BaseModel):
    prefix: str
    trust: str
    origins: list[str] | None = None


class TrustRulesOut(BaseModel):
    sources: list[SourceRuleOut]  # in the order they are tried: longest prefix first
    origins: dict[str, str]
