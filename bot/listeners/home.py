"""App Home: what the bot can do and its commands, and each user's digest and alert switches."""

from __future__ import annotations

import logging
from typing import Any

from bot.blocks import build_home_view, build_subscription_blocks

logger = logging.getLogger(__name__)


def home_view(user: str, services: Any = None, *, state: Any = None) -> dict[str, Any]:
    """The home tab for `user`: the commands, then their switches (read from the shared ledger, so a change made
    on one replica shows on every one). Without the ledger, the commands alone."""
    view = build_home_view()
    if services is None:
        return view
    from bot.services.digest import DigestState

    try:
        subscription = (state or DigestState.for_services(services)).subscription(user)
    except Exception:
        logger.warning("could not read the digest settings of %s", user, exc_info=True)
        return view
    settings = services.settings
    view["blocks"] = view["blocks"] + build_subscription_blocks(
        subscription.as_dict(), schedule=settings.digest_cron, alert_channel=settings.alert_channel)
    return view


def register(app: Any, *, services: Any = None) -> None:
    state = None
    if services is not None:  # one handle on the digest ledger for every opening, not a new one each time
        from bot.services.digest import DigestState

        state = DigestState.for_services(services)

    @app.event("app_home_opened")
    def handle_app_home_opened(event: dict[str, Any], client: Any) -> None:
        if event.get("tab") not in (None, "home"):
            return
        try:
            client.views_publish(user_id=event["user"], view=home_view(event["user"], services, state=state))
        except Exception:
            logger.exception("could not publish the home view")
