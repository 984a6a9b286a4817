"""The client's LangChain adapter against the real service: hits become Documents with their source and trust."""

from __future__ import annotations

import asyncio

import pytest
from agentmem_client import AgentMem, AsyncAgentMem
from agentmem_client.langchain import AgentMemRetriever
from langchain_core.documents import Document
from test_client import service, tenant  # noqa: F401 - the served app, and a namespace with a key

from agentmem.api.in_thread import Running

NOTES = [
    ("notes://hnsw", "HNSW answers a query by a greedy walk over a layered proximity graph."),
    ("notes://bm25", "BM25 ranks documents by term frequency and inverse document frequency."),
    ("notes://tea", "The team drinks green tea on Fridays."),
]


def _documents(mem: AgentMem) -> None:
    for uri, text in NOTES:
        assert mem.documents.upsert(uri, text).status == "created"


def test_the_retriever_returns_the_search_hits_as_documents(service: Running) -> None:  # noqa: F811
    with tenant(service) as mem:
        _documents(mem)
        retriever = AgentMemRetriever(client=mem, k=2, mode="keyword")
        docs = retriever.invoke("how does BM25 rank documents")
        hits = mem.search("how does BM25 rank documents", k=2, mode="keyword").results
    assert docs and all(isinstance(d, Document) for d in docs)
    assert [d.page_content for d in docs] == [h.text for h in hits]
    top = docs[0]
    assert top.metadata["source"] == "notes://bm25" and top.metadata["trust"] == "untrusted"
    assert top.metadata["document_id"] == str(hits[0].document_id) and top.metadata["score"] == hits[0].score


def test_the_async_path_uses_the_async_client(service: Running) -> None:  # noqa: F811
    with tenant(service) as mem:
        _documents(mem)
        key = mem.config.api_key

    async def run() -> list[Document]:
        async with AsyncAgentMem(service.base_url, key) as amem:
            return await AgentMemRetriever(async_client=amem, k=1, mode="keyword").ainvoke("green tea Fridays")

    [doc] = asyncio.run(run())
    assert doc.metadata["source"] == "notes://tea"


def test_a_retriever_without_a_client_says_what_to_pass() -> None:
    with pytest.raises(ValueError, match="client=AgentMem"):
        AgentMemRetriever().invoke("anything")


