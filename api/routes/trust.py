"""The namespace's trust rules: how an item's trust level follows from its source and origin."""

from __future__ import annotations

from fastapi import APIRouter

from agentmem.api.deps import ConnDep, OperatorDep, ReadDep
from agentmem.api.schemas.trust import TrustRulesIn, TrustRulesOut
from agentmem.memory.namespaces import set_trust_rules
from agentmem.memory.provenance import parse_rules

router = APIRouter(tags=["screening"])


@router.get("/settings/trust", response_model=TrustRulesOut)
def get_trust_rules(who: ReadDep) -> TrustRulesOut:
    return TrustRulesOut.model_validate(parse_rules(who.trust).as_json())


@router.put("/settings/trust", response_model=TrustRulesOut)
def put_trust_rules(body: TrustRulesIn, who: OperatorDep, conn: ConnDep) -> TrustRulesOut:
    """Replaces the rules; they hold at once for every item (trust is computed when an item is read)."""
    rules = parse_rules(body.model_dump(exclude_none=True))
    set_trust_rules(conn, who, rules.as_json())
    return TrustRulesOut.model_validate(rules.as_json())
