"""What each audience may see of an event: staff see it whole, everyone else a filtered copy.

The services that write events already keep personal data out of them; this is defense in
depth on the way out. Keys that name a buyer are masked, staff-only keys are dropped.
"""

from __future__ import annotations

from typing import Any

from livecommerce.kit.masking import mask_display_name
from streams.relay.bus import Envelope

# Keys that only staff (admins, organizers) may see, at any depth of `data`.
STAFF_ONLY_KEYS = frozenset(
    {
        "buyer_id",
        "buyer_username",
        "user_id",
        "username",
        "phone",
        "address",
        "email",
        "idempotency_key",
        "payment_id",
        "provider_txn_id",
        "registration_no",
        "household_name",
        "household_names",
        "splits",
        "staff",
        "note",
    }
)
# Keys holding a person's display name: shown masked to the public.
MASKED_KEYS = frozenset({"buyer", "buyer_name", "buyer_display_name", "display_name", "author"})


def public_data(data: Any) -> Any:
    """A copy of `data` without staff-only keys and with buyer names masked."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in STAFF_ONLY_KEYS or key.startswith("staff_"):
                continue
            if key in MASKED_KEYS and isinstance(value, str):
                out[key] = mask_display_name(value)
            else:
                out[key] = public_data(value)
        return out
    if isinstance(data, list):
        return [public_data(item) for item in data]
    return data


def public_envelope(envelope: Envelope) -> Envelope:
    """The envelope as anonymous viewers, buyers and cadres receive it."""
    return {**envelope, "data": public_data(envelope.get("data", {}))}
