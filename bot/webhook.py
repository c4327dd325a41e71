"""`POST /line/webhook`: verify, acknowledge, hand on. Nothing else happens here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError

from bot.service import BotService

log = logging.getLogger(__name__)

BOT: web.AppKey[BotService] = web.AppKey("bot", BotService)
CHANNEL_SECRET: web.AppKey[str] = web.AppKey("channel_secret", str)
MAX_WEBHOOK_BYTES = 1_000_000


def valid_signature(secret: str, body: bytes, signature: str) -> bool:
    """base64(HMAC-SHA256(channel secret, raw body)), compared in constant time."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), signature)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "details": []}}, status=status
    )


async def line_webhook(request: web.Request) -> web.Response:
    """Check the signature on the raw bytes, then answer 200 at once and work in background."""
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        return _error(413, "body_too_large", "webhook body too large")
    body = await request.read()
    signature = request.headers.get("x-line-signature", "")
    secret = request.app[CHANNEL_SECRET]
    # A header of non-ASCII (or non-UTF-8) bytes cannot be a base64 signature.
    if not signature or not signature.isascii() or not valid_signature(secret, body, signature):
        log.warning("webhook signature rejected", extra={"remote": request.remote})
        return _error(401, "bad_signature", "x-line-signature does not match the body")
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            raise ValueError("no events list")
        events = WebhookParser(secret).parse(text, signature)
    except InvalidSignatureError:
        return _error(401, "bad_signature", "x-line-signature does not match the body")
    except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        return _error(400, "not_a_webhook", f"the body is not a LINE webhook: {exc}")
    except Exception as exc:  # the SDK's model validation: a malformed event, not our bug
        log.warning("webhook events not parsable", extra={"error": type(exc).__name__})
        return _error(400, "not_a_webhook", "the events are not LINE webhook events")
    if events:
        request.app[BOT].accept(events)
    return web.json_response({})
