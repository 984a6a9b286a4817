"""A LangChain retriever over agentmem's `/search` (optional extra: `pip install './clients/python[langchain]'`).

Each hit becomes a `Document` whose metadata says where it came from and that it is untrusted data, so a
chain can cite it and keep it out of its instructions. Only `langchain-core` is needed.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from agentmem_client.client import AgentMem, AsyncAgentMem
from agentmem_client.types.retrieval import Hit


class AgentMemRetriever(BaseRetriever):
    """`AgentMemRetriever(client=AgentMem(), k=5)`; give `async_client` too for `ainvoke` without a thread."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: AgentMem | None = None
    async_client: AsyncAgentMem | None = None
    k: int = 5
    mode: Literal["hybrid", "vector", "keyword"] | None = None  # the service's default when None
    filters: dict[str, Any] | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if self.client is None:
            raise ValueError("AgentMemRetriever needs client=AgentMem(...) for synchronous calls")
        found = self.client.search(query, k=self.k, mode=self.mode, filters=self.filters)
        return [to_document(hit) for hit in found.results]

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        if self.async_client is None:
            return await super()._aget_relevant_documents(query, run_manager=run_manager)  # the sync call, in a thread
        found = await self.async_client.search(query, k=self.k, mode=self.mode, filters=self.filters)
        return [to_document(hit) for hit in found.results]


def to_document(hit: Hit) -> Document:
    metadata: dict[str, Any] = {
        "source": hit.source_uri, "document_id": str(hit.document_id), "chunk_id": hit.id, "title": hit.title,
        "kind": hit.kind, "score": hit.score, "freshness": hit.freshness,
        "trust": "untrusted",  # stored content: data to quote and cite, never instructions
        "metadata": hit.metadata,
    }
    return Document(page_content=hit.text, metadata=metadata, id=f"{hit.document_id}:{hit.id}")
