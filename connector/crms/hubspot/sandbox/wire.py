"""HubSpot's wire formats, shared by the sandbox's APIs: timestamps and error bodies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from mqlsync.connector.sandbox.server import Response

#: the sandbox portal's id (custom behavioral events are named pe{portalId}_{name})
PORTAL_ID = 12345678


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(value: Any) -> int | None:
    """A HubSpot datetime filter value: epoch milliseconds or an ISO 8601 string."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def error(status: int, category: str, message: str, **extra: Any) -> Response:
    """HubSpot's error body: status, message, correlationId, category (and context)
    (https://developers.hubspot.com/docs/api/error-handling)."""
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
    body.update(extra)
    return Response(status, body)
