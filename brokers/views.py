"""The broker, order and portfolio API: validate, call one service or selector, serialize."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from brokers import readcache, selectors
from brokers.gating import broker_access_check, broker_spec_or_404
from brokers.models import ConnectionStatus
from brokers.oauth_views import oauth_callback_url
from brokers.serializers import (
    BalanceOut,
    ConnectionConfigureIn,
    ConnectionOut,
    ConnectionTestIn,
    ConnectionTestOut,
    OrderIn,
    OrderOut,
    PortfolioOut,
    PositionOut,
    SupportedBrokerOut,
)
from brokers.services.connections import (
    INTERACTIVE_WAIT_SECONDS,
    connection_configure,
    connection_delete,
    connection_refresh,
    connection_test,
    credentials_clean,
    snapshot_is_stale,
)
from brokers.services.oauth import oauth_authorize_url
from brokers.services.orders import order_cancel_request, order_place, order_request_build
from brokers.services.portfolio import portfolio_get
from config.errors import ApiError


def _body_spec(request: Request) -> Any:
    """The broker named in the body, gated before the rest of the body is validated."""
    if not isinstance(request.data, dict):
        raise ApiError(400, "bad_request", "Expected a JSON object.")
    key = request.data.get("broker")
    if not isinstance(key, str) or not key.strip():
        raise ApiError(400, "invalid", "broker is required.", fields={"broker": ["This field is required."]})
    spec = broker_spec_or_404(key)
    broker_access_check(user=request.user, spec=spec)
    return spec


class SupportedBrokersView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(responses=SupportedBrokerOut(many=True))
    def get(self, request: Request) -> Response:
        return Response(selectors.broker_supported_list())


class ConnectionTestView(APIView):
    @extend_schema(request=ConnectionTestIn, responses=ConnectionTestOut)
    def post(self, request: Request) -> Response:
        spec = _body_spec(request)
        data = ConnectionTestIn(data=request.data)
        data.is_valid(raise_exception=True)
        credentials = credentials_clean(spec=spec, raw=data.validated_data["credentials"])
        account = connection_test(
            user=request.user, spec=spec, credentials=credentials, paper=data.validated_data["paper"]
        )
        return Response(
            {"ok": True, "account": {"id": account.id, "currency": account.currency, "paper": account.paper}}
        )


class ConnectionConfigureView(APIView):
    @extend_schema(request=ConnectionConfigureIn, responses={201: ConnectionOut})
    def post(self, request: Request) -> Response:
        spec = _body_spec(request)
        data = ConnectionConfigureIn(data=request.data)
        data.is_valid(raise_exception=True)
        credentials = credentials_clean(spec=spec, raw=data.validated_data["credentials"])
        connection = connection_configure(
            user=request.user,
            spec=spec,
            credentials=credentials,
            paper=data.validated_data["paper"],
            label=data.validated_data["label"],
        )
        body = dict(ConnectionOut(connection).data)
        if connection.status == ConnectionStatus.PENDING_AUTHORIZATION:
            callback = oauth_callback_url(request)
            body["authorize_url"] = oauth_authorize_url(
                session=request.session, connection=connection, callback_url=callback
            )
        return Response(body, status=status.HTTP_201_CREATED)


class ConnectionListView(APIView):
    @extend_schema(responses=ConnectionOut(many=True))
    def get(self, request: Request) -> Response:
        def build() -> Any:
            return ConnectionOut(selectors.connection_list(user=request.user), many=True).data

        return readcache.body_response(
            readcache.read_cached(user_id=request.user.pk, name=readcache.CONFIGURED, build=build)
        )


class ConnectionDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, broker: str) -> Response:
        connection_delete(connection=selectors.connection_get(user=request.user, broker=broker))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BalanceView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("refresh", bool, description="Ask the broker now (rate-limited).")],
        responses=BalanceOut,
    )
    def get(self, request: Request, broker: str) -> HttpResponse:
        spec = broker_spec_or_404(broker)
        # Most reads carry no query string: they skip parsing one.
        if not (request.META.get("QUERY_STRING") and request.query_params.get("refresh") in {"1", "true"}):
            # Served from the last snapshot (cached); only a connection without one asks the broker.
            body = readcache.balance_cached(
                user_id=request.user.pk, broker=spec.key, build=lambda: self._latest(request, spec.key)
            )
            if body is not None:
                return readcache.body_response(body)
        data = self._refreshed(request, spec.key)
        data["stale"] = snapshot_is_stale(as_of=datetime.fromisoformat(data["as_of"]))
        return Response(data)

    @staticmethod
    def _latest(request: Request, broker: str) -> dict[str, Any] | None:
        connection = selectors.connection_get(user=request.user, broker=broker)
        snapshot = selectors.balance_latest(connection=connection)
        return None if snapshot is None else _balance_payload(snapshot, broker)

    @staticmethod
    def _refreshed(request: Request, broker: str) -> dict[str, Any]:
        connection = selectors.connection_get(user=request.user, broker=broker)
        snapshot = connection_refresh(connection=connection, wait=INTERACTIVE_WAIT_SECONDS)
        return _balance_payload(snapshot, broker)


def _balance_payload(snapshot: Any, broker: str) -> dict[str, Any]:
    """A snapshot as the balance response, less `stale` (computed per read, so it can be cached)."""
    return BalanceOut({**vars(snapshot), "broker": broker, "stale": False}).data


class PositionsView(APIView):
    @extend_schema(responses=PositionOut(many=True))
    def get(self, request: Request, broker: str) -> Response:
        connection = selectors.connection_get(user=request.user, broker=broker)
        return Response(PositionOut(selectors.position_list(connection=connection), many=True).data)


class BrokerOrdersView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["open", "closed", "all"])],
        responses=OrderOut(many=True),
    )
    def get(self, request: Request, broker: str) -> Response:
        spec = broker_spec_or_404(broker)
        wanted = request.query_params.get("status", "all")
        if wanted not in {"open", "closed", "all"}:
            raise ApiError(
                400,
                "invalid",
                "status must be open, closed or all.",
                fields={"status": ["Choose open, closed or all."]},
            )
        orders = selectors.order_list(user=request.user, broker=spec.key, status=wanted)
        return Response(OrderOut(orders[:500], many=True).data)

    @extend_schema(
        request=OrderIn,
        responses={202: OrderOut, 200: OrderOut},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
    )
    def post(self, request: Request, broker: str) -> Response:
        spec = broker_spec_or_404(broker)
        broker_access_check(user=request.user, spec=spec)
        connection = selectors.connection_get(user=request.user, broker=spec.key)
        data = OrderIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.order_values()
        client_order_id = values.pop("client_order_id") or request.headers.get("Idempotency-Key") or None
        order_request = order_request_build(broker=spec.key, client_order_id=client_order_id, **values)
        order, created = order_place(user=request.user, connection=connection, request=order_request)
        return Response(OrderOut(order).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class OrderDetailView(APIView):
    @extend_schema(responses=OrderOut)
    def get(self, request: Request, order_id: str) -> Response:
        return Response(OrderOut(selectors.order_get(user=request.user, order_id=order_id)).data)

    @extend_schema(responses={202: OrderOut})
    def delete(self, request: Request, order_id: str) -> Response:
        order = order_cancel_request(order=selectors.order_get(user=request.user, order_id=order_id))
        return Response(OrderOut(order).data, status=status.HTTP_202_ACCEPTED)


class PortfolioView(APIView):
    @extend_schema(responses=PortfolioOut)
    def get(self, request: Request) -> Response:
        return Response(portfolio_get(user_id=request.user.pk))
