"""The MCP server: agentmem's API as tools for agents, over streamable HTTP (/mcp) and stdio.

Every tool call is a call to the service's own HTTP API with the caller's key, so roles, limits,
validation and error messages are the API's. tools.py is the one table both transports serve.
"""
