"""Django signals the broker layer sends, so apps built on it (bots) react without brokers importing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `user_id`, inside the transaction that engages a user's kill switch: receivers stop
# whatever of theirs places orders for that user (bots halt), atomically with the switch.
kill_switch_engaged = Signal()

# Sent with `order` (a brokers.models.Order) once the transaction that moved it from an open
# status to a terminal one (filled, canceled, rejected, failed) has committed.
order_settled = Signal()
