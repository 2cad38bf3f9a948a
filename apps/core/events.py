"""Domain events for subscribers outside the request (webhooks, e-mail notifications).

Producers call `emit` inside the transaction of the change they report; receivers connected to
`domain_event` get it once that transaction commits (at once outside one), so nothing that was
rolled back is ever announced. A receiver gets keyword arguments `event_type`, `user_id` (the
owner the event is about), `data` (JSON-safe, never a secret) and `at` (an aware datetime).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

logger = logging.getLogger(__name__)

domain_event = Signal()

# The events a subscriber can ask for; the value is what a person reads in a settings form.
EVENT_TYPES = {
    "campaign.started": "A campaign started",
    "campaign.paused": "A campaign paused (by you, an operator or a guardrail)",
    "campaign.resumed": "A campaign resumed",
    "campaign.stopped": "A campaign stopped and gathered its funds",
    "campaign.completed": "A campaign reached its target",
    "campaign.failed": "A campaign failed",
    "run.stats": "Run statistics (every status tick of a live run)",
    "trade.landed": "A trade landed on chain",
    "trade.failed": "A trade failed",
    "wallet.low_balance": "A funding wallet ran low",
    "guardrail.tripped": "A guardrail or the circuit breaker stopped something",
}


def emit(*, event_type: str, user_id: int, data: dict) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    at = timezone.now()

    def send() -> None:
        # One failing subscriber must neither stop the others nor the engine that emitted.
        for receiver, error in domain_event.send_robust(
            sender=None, event_type=event_type, user_id=user_id, data=data, at=at
        ):
            if isinstance(error, Exception):
                name = getattr(receiver, "__qualname__", repr(receiver))
                logger.error(
                    "event subscriber failed",
                    extra={"event_type": event_type, "receiver": name},
                    exc_info=error,
                )

    transaction.on_commit(send)
