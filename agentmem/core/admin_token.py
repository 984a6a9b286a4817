"""The admin token: from AGENTMEM_ADMIN_TOKEN, or generated once and kept (mode 0600) in the data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from agentmem.core.settings import Settings

FILE_NAME = "admin_token"


def token_path(settings: Settings) -> Path:
    return settings.data_dir / FILE_NAME


def resolve_admin_token(settings: Settings) -> tuple[str, Path | None]:
    """Return the token and, when it lives in a file, that file's path."""
    if settings.admin_token:
        return settings.admin_token, None
    path = token_path(settings)
    if path.exists():
        return path.read_text(encoding="utf-8").strip(), path
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "amadm_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token, path
