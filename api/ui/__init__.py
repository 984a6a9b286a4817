"""The operator's web page (GET /ui): server-rendered HTML, no script, everything served by the service."""
