"""The content negotiation shortcut picks exactly what DRF's own negotiation picks."""

import pytest
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.negotiation import ApiContentNegotiation

ACCEPTS = [None, "*/*", "application/json", "text/html", "application/json; indent=4", "image/png", "text/*"]
RENDERERS = {
    "api": [JSONRenderer()],
    "browsable": [BrowsableAPIRenderer(), JSONRenderer()],
    "schema": [OpenApiYamlRenderer(), OpenApiJsonRenderer()],
}


def _choice(negotiation, request, renderers, suffix):
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
    except NotAcceptable:
        return "406"
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("renderers", RENDERERS, ids=str)
@pytest.mark.parametrize("query", ["", "?format=json", "?refresh=1", "?formats=1"])
@pytest.mark.parametrize("suffix", [None, "json"])
def test_it_agrees_with_drf(accept, renderers, query, suffix):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/api/portfolio" + query, **headers))
    expected = _choice(DefaultContentNegotiation(), request, RENDERERS[renderers], suffix)
    assert _choice(ApiContentNegotiation(), request, RENDERERS[renderers], suffix) == expected


@pytest.mark.django_db
def test_an_unacceptable_accept_header_is_a_406_in_the_contract_shape(token_client):
    response = token_client.get("/api/brokers/user/configured", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"
    assert token_client.get("/api/brokers/user/configured", HTTP_ACCEPT="application/json").status_code == 200
