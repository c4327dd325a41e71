"""A local stand-in for the LINE platform: Messaging API, webhooks, users, and a chat page."""

from integrations.line_emulator.api import EMULATOR
from integrations.line_emulator.app import create_emulator_app, run_emulator
from integrations.line_emulator.config import DEFAULT_RATE_LIMITS, EmulatorConfig
from integrations.line_emulator.events import play, play_raw, sign
from integrations.line_emulator.logs import PrivateAccessLogger, redact_line_ids
from integrations.line_emulator.state import Emulator, LineError

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "EMULATOR",
    "Emulator",
    "EmulatorConfig",
    "LineError",
    "PrivateAccessLogger",
    "create_emulator_app",
    "play",
    "play_raw",
    "redact_line_ids",
    "run_emulator",
    "sign",
]
