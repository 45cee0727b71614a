"""`POST /hooks/bots/{token}`: the public signal intake (no session, no API token, no CSRF).

The body is read raw, at most 8 KiB and one byte: TradingView sends JSON as text/plain, and a
larger body is refused without being read. The token is in the URL and is the secret: it goes
to the service (which keeps only its hash) and nowhere else; bots.redact keeps it out of logs.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bots.reasons import Reason
from bots.serializers import SignalIn, SignalReceivedOut
from bots.services.intake import MAX_BODY_BYTES, Delivery, Received, signal_receive
from config.errors import error_body


class SignalHookView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes: list[Any] = []  # read raw below

    @extend_schema(
        operation_id="hooks_bots_signal",
        request={"application/json": SignalIn, "text/plain": SignalIn},
        responses={
            202: SignalReceivedOut,
            200: OpenApiResponse(SignalReceivedOut, description="A signal id this bot already received."),
        },
        auth=[],
    )
    def post(self, request: Request, token: str) -> Response:
        received = signal_receive(delivery=_delivery(request, token))
        return _response(received)


def _delivery(request: Request, token: str) -> Delivery:
    meta = request.META
    length = meta.get("CONTENT_LENGTH") or "0"
    declared = int(length) if length.isdigit() else 0
    body = request._request.read(MAX_BODY_BYTES + 1) if declared <= MAX_BODY_BYTES else b""
    return Delivery(
        token=token,
        body=body,
        content_type=meta.get("CONTENT_TYPE", ""),
        source_address=meta.get("REMOTE_ADDR") or None,
        declared_length=declared,
    )


def _response(received: Received) -> Response:
    signal, refusal = received.signal, received.refusal
    ids = {"signal_id": str(signal.pk), "status": signal.status}
    if refusal is None:
        return Response(ids, status=status.HTTP_200_OK if received.duplicate else status.HTTP_202_ACCEPTED)
    if refusal.code == Reason.RATE_LIMITED:
        retry = str(max(1, round(received.retry_after or 1)))
        body = {**error_body("rate_limited", refusal.message), **ids}
        return Response(body, status=status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": retry})
    if refusal.code == Reason.QUEUE_UNAVAILABLE:
        return Response({**error_body("queue_unavailable", refusal.message), **ids}, status=503)
    fields = {received.field: [refusal.message]} if received.field else {}
    return Response({**error_body("invalid_payload", refusal.message, fields), **ids}, status=400)
