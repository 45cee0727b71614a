import pytest

pytestmark = pytest.mark.django_db


def test_it_answers_401_in_the_error_body(api):
    response = api.get("/api/brokers/user/configured")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert error["message"] and error["fields"] == {}


def test_it_answers_404_for_an_unknown_api_path_in_the_error_body(client, settings):
    settings.DEBUG = False
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such endpoint.", "fields": {}}}


def test_pages_still_get_an_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_api_paths_have_no_trailing_slash_redirect(client):
    assert client.get("/api/brokers/supported/").status_code == 404
