"""The delivery channels: Web Push, e-mail and signed webhooks.

Each channel is one function that makes a single delivery attempt and returns a
`DeliveryResult`; none of them sleeps or retries by itself, so the caller (the
notifier loop) decides what happens next.
"""

from leitstand.notifications.channels.delivery import Channel, DeliveryResult, Notification, Outcome
from leitstand.notifications.channels.mail import compose_email, send_email
from leitstand.notifications.channels.push import (
    PushSubscription,
    VapidKeys,
    application_server_key,
    generate_vapid_keys,
    send_push,
)
from leitstand.notifications.channels.webhook import (
    SIGNATURE_HEADER,
    RetryPolicy,
    send_webhook,
    sign_webhook,
    verify_signature,
)

__all__ = [
    "SIGNATURE_HEADER",
    "Channel",
    "DeliveryResult",
    "Notification",
    "Outcome",
    "PushSubscription",
    "RetryPolicy",
    "VapidKeys",
    "application_server_key",
    "compose_email",
    "generate_vapid_keys",
    "send_email",
    "send_push",
    "send_webhook",
    "sign_webhook",
    "verify_signature",
]
