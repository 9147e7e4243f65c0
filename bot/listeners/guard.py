"""Who may see CRM data where: allowlists, guests, channels shared with other organisations."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from bot.settings import Settings

logger = logging.getLogger(__name__)

GUEST = ("Sorry — account and CRM information isn't available to guest accounts. "
         "Please ask a full member of the workspace.")
SHARED = ("Sorry — I don't share account or CRM information in channels shared with other organisations. "
          "Ask me in a direct message or an internal channel instead.")
NOT_ALLOWED_USER = "Sorry — this assistant isn't enabled for your account. Ask your Slack admin for access."
NOT_ALLOWED_CHANNEL = "Sorry — this assistant isn't enabled in this channel. Try a direct message."
NO_USER = "Sorry — I can't tell who is asking, so I won't show CRM data here."
NO_CHANNEL = "Sorry — I can't tell where this conversation is, so I won't show CRM data here."
UNVERIFIED = ("Sorry — I can't confirm this conversation isn't shared with another organisation (I may not be "
              "a member of it), so I won't show CRM data here. Invite me, or ask me in a direct message.")
CACHE_SECONDS = 600


class Guard:
    """Answers `refusal(...)` with a polite sentence, or None when the request may proceed.

    users.info and conversations.info answers are cached for ten minutes per process, so a busy
    channel does not cost a Web API call per message.
    """

    def __init__(self, settings: Settings):
        self.allowed_users = set(settings.allowed_user_ids)
        self.allowed_channels = set(settings.allowed_channel_ids)
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, str], fetch: Any) -> bool:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        value = bool(fetch())
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def is_guest(self, client: Any, user_id: str) -> bool:
        def fetch() -> bool:
            user = client.users_info(user=user_id).get("user") or {}
            return bool(user.get("is_restricted") or user.get("is_ultra_restricted"))
        return self._cached(("user", user_id), fetch)

    def is_shared(self, client: Any, channel_id: str) -> bool:
        if channel_id.startswith("D"):
            return False  # a direct message is never shared with another organisation

        def fetch() -> bool:
            channel = client.conversations_info(channel=channel_id).get("channel") or {}
            return bool(channel.get("is_ext_shared"))
        return self._cached(("channel", channel_id), fetch)

    def remember_guest(self, user_id: str, guest: bool, *, checked: float | None = None) -> None:
        """Slack's word on a user learnt elsewhere (users.lookupByEmail, users.list) at epoch `checked` (now when
        None): stands for users.info for the rest of the cache's ten minutes."""
        age = max(0.0, time.time() - checked) if checked is not None else 0.0
        at = time.monotonic() - age
        with self._lock:
            known = self._cache.get(("user", user_id))
            if known is None or known[0] <= at:  # an older word never replaces a newer one
                self._cache[("user", user_id)] = (at, bool(guest))

    def user_refusal(self, client: Any, user_id: str | None) -> str | None:
        """Whether CRM data may go to this person: known, allowed, and a full member (not a guest)."""
        if not user_id:
            return NO_USER  # nobody to check for guest access: CRM data is never sent to an unknown person
        if self.allowed_users and user_id not in self.allowed_users:
            return NOT_ALLOWED_USER
        try:
            if self.is_guest(client, user_id):
                return GUEST
        except Exception:  # cannot tell: refuse rather than leak CRM data
            logger.warning("could not check user %s", user_id, exc_info=True)
            return UNVERIFIED
        return None

    def channel_refusal(self, client: Any, channel_id: str | None, *, ext_shared: bool | None = None) -> str | None:
        """Whether CRM data may be shown in this conversation: known, allowed, not shared with another organisation."""
        if not channel_id:
            return NO_CHANNEL  # nowhere to check for a shared channel
        if self.allowed_channels and not channel_id.startswith("D") and channel_id not in self.allowed_channels:
            return NOT_ALLOWED_CHANNEL
        try:
            if ext_shared or (ext_shared is None and self.is_shared(client, channel_id)):
                return SHARED
        except Exception:  # cannot tell: refuse rather than leak CRM data
            logger.warning("could not check channel %s", channel_id, exc_info=True)
            return UNVERIFIED
        return None

    def refusal(self, client: Any, *, user_id: str | None, channel_id: str | None,
                ext_shared: bool | None = None) -> str | None:
        """A person asking in a conversation: both checked."""
        if not user_id:
            return NO_USER
        if not channel_id:
            return NO_CHANNEL
        return self.user_refusal(client, user_id) or self.channel_refusal(client, channel_id, ext_shared=ext_shared)
