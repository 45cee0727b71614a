"""The watchlist API: validate, call one service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from watchlist import selectors
from watchlist.serializers import WatchlistAddIn, WatchlistItemOut
from watchlist.services import watchlist_symbol_add, watchlist_symbol_remove


class WatchlistView(APIView):
    @extend_schema(responses=WatchlistItemOut(many=True))
    def get(self, request: Request) -> Response:
        return Response(WatchlistItemOut(selectors.watchlist_list(user=request.user), many=True).data)

    @extend_schema(
        request=WatchlistAddIn,
        responses={201: WatchlistItemOut, 200: WatchlistItemOut},
        description="Adds a symbol: 201. A symbol already on the list is returned as it is, with 200.",
    )
    def post(self, request: Request) -> Response:
        data = WatchlistAddIn(data=request.data)
        data.is_valid(raise_exception=True)
        item, created = watchlist_symbol_add(user=request.user, symbol=data.validated_data["symbol"])
        entry = selectors.watchlist_entries(items=[item])[0]
        return Response(WatchlistItemOut(entry).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class WatchlistItemView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("symbol", str, OpenApiParameter.PATH, description="Percent-encode a slash: BTC%2FUSD.")
        ],
        responses={204: None},
    )
    def delete(self, request: Request, symbol: str) -> Response:
        watchlist_symbol_remove(user=request.user, symbol=symbol)
        return Response(status=status.HTTP_204_NO_CONTENT)
