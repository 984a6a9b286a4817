"""agentmem: memory and context management for LLM agents."""
