from typing import Any

from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bots import redact
        from brokers.signals import kill_switch_engaged, order_settled

        kill_switch_engaged.connect(_on_kill_switch, dispatch_uid="bots.kill_switch")
        order_settled.connect(_on_order_settled, dispatch_uid="bots.order_settled")
        redact.install()


def _on_kill_switch(sender: Any, user_id: int, **kwargs: Any) -> None:
    """Every bot of the user halts, in the transaction that engages the switch."""
    from bots.reasons import Reason
    from bots.services.bots import bots_halt_all

    bots_halt_all(user_id=user_id, reason=Reason.KILL_SWITCH)


def _on_order_settled(sender: Any, order: Any, **kwargs: Any) -> None:
    """A settled order of a bot moves its position and may settle its signal."""
    import logging

    from bots.services.settlement import order_settle

    try:
        order_settle(order=order)
    except Exception:  # never undo the broker's side of things: the order itself is recorded
        logging.getLogger(__name__).exception("could not apply settled order %s to its bot", order.pk)
