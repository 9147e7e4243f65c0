"""App Home: what the bot can do and its commands."""

from __future__ import annotations

import logging
from typing import Any

from bot.blocks import build_home_view

logger = logging.getLogger(__name__)


def register(app: Any) -> None:
    @app.event("app_home_opened")
    def handle_app_home_opened(event: dict[str, Any], client: Any) -> None:
        if event.get("tab") not in (None, "home"):
            return
        try:
            client.views_publish(user_id=event["user"], view=build_home_view())
        except Exception:
            logger.exception("could not publish the home view")
