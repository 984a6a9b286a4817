"""Request and response bodies by concept: Pydantic lives here, at the edge, and nowhere in the core."""
