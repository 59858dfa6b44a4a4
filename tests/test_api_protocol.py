"""The API as HTTP clients and generated clients see it: the OpenAPI document names every
header the API reads and sets, and every error under /api/v1/ is the API's JSON error in the
request's language, whoever made it (a view, django-ninja, Django)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client
from openapi_spec_validator import validate

from autolettura.customers.models import Supply

pytestmark = pytest.mark.django_db


def errors_of(response: Any) -> list[dict[str, Any]]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"errors"}
    for error in body["errors"]:
        assert set(error) == {"field", "code", "message"}
        assert error["message"]
    errors: list[dict[str, Any]] = body["errors"]
    return errors


@pytest.fixture
def document(client: Client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


class TestTheOpenApiDocument:
    def test_is_a_valid_openapi_document(self, document: dict[str, Any]) -> None:
        validate(document)  # raises on any error, naming it

    def test_names_accept_language_on_every_operation(self, document: dict[str, Any]) -> None:
        parameter = document["components"]["parameters"]["AcceptLanguage"]
        assert (parameter["name"], parameter["in"]) == ("Accept-Language", "header")
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                refs = [p.get("$ref") for p in operation.get("parameters", [])]
                assert "#/components/parameters/AcceptLanguage" in refs, (method, path)

    def test_names_the_idempotency_key_of_a_submission(self, document: dict[str, Any]) -> None:
        parameter = document["components"]["parameters"]["IdempotencyKey"]
        assert (parameter["name"], parameter["in"]) == ("Idempotency-Key", "header")
        submit = document["paths"]["/api/v1/readings"]["post"]
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in submit["parameters"]

    def test_names_retry_after_on_429_and_503_and_www_authenticate_on_401(
        self, document: dict[str, Any]
    ) -> None:
        submit = document["paths"]["/api/v1/readings"]["post"]["responses"]
        for status in ("429", "503"):
            assert submit[status]["headers"]["Retry-After"] == {
                "$ref": "#/components/headers/RetryAfter"
            }
        assert "WWW-Authenticate" in submit["401"]["headers"]
        assert document["components"]["headers"]["RetryAfter"]["schema"]["type"] == "integer"
        assert "413" in submit
        supplies = document["paths"]["/api/v1/me/supplies"]["get"]["responses"]
        assert "WWW-Authenticate" in supplies["401"]["headers"]


class TestUnauthorized:
    def test_a_missing_token_is_challenged_with_bearer(self, client: Client) -> None:
        response = client.get("/api/v1/me/supplies")

        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
        assert errors_of(response)[0]["code"] == "unauthorized"

    def test_a_wrong_token_is_challenged_as_invalid(self, client: Client) -> None:
        response = client.get("/api/v1/me/supplies", headers={"Authorization": "Bearer nope"})

        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'

    def test_a_wrong_password_for_a_token_is_challenged_too(self, client: Client) -> None:
        response = client.post(
            "/api/v1/auth/token",
            {"username": "nobody", "password": "wrong"},
            content_type="application/json",
        )

        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


class TestEveryErrorIsJson:
    def test_a_method_an_address_does_not_take_is_405_in_json(self, client: Client) -> None:
        response = client.put("/api/v1/readings", headers={"Accept-Language": "en"})

        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert errors_of(response) == [
            {
                "field": None,
                "code": "method_not_allowed",
                "message": "This address does not take PUT requests: use POST.",
            }
        ]

    @pytest.mark.parametrize(
        ("language", "message"),
        [
            ("it", "A questo indirizzo dell'API non c'è nulla: l'elenco degli endpoint è su"),
            ("en", "There is nothing at this address of the API: the list of endpoints is at"),
        ],
    )
    def test_an_unknown_address_is_404_in_json_in_the_clients_language(
        self, client: Client, language: str, message: str
    ) -> None:
        response = client.get("/api/v1/no/such/thing", headers={"Accept-Language": language})

        assert response.status_code == 404
        (error,) = errors_of(response)
        assert error["code"] == "not_found"
        assert error["message"].startswith(message)
        assert response["Content-Language"] == language
        # The security headers of every answer are kept.
        assert response["X-Content-Type-Options"] == "nosniff"

    def test_a_server_error_is_500_in_json(
        self, monkeypatch: pytest.MonkeyPatch, settings: Any
    ) -> None:
        def broken(now: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr("autolettura.service.selectors.info_line_status", broken)
        client = Client(raise_request_exception=False)

        response = client.get("/api/v1/service-hours", headers={"Accept-Language": "en"})

        assert response.status_code == 500
        (error,) = errors_of(response)
        assert error["code"] == "server_error"
        assert "a bug" not in response.content.decode()

    def test_a_body_too_large_is_413_in_json(self, client: Client, settings: Any) -> None:
        response = client.post(
            "/api/v1/readings",
            "{}",
            content_type="application/json",
            CONTENT_LENGTH=str(settings.AUTOLETTURA_REQUEST_MAX_MB * 1024 * 1024 + 1),
        )

        assert response.status_code == 413
        assert errors_of(response)[0]["code"] == "request_too_large"

    def test_a_database_that_cannot_be_reached_is_503_in_json_with_retry_after(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def down(now: object) -> None:
            raise OperationalError("connection refused")

        monkeypatch.setattr("autolettura.service.selectors.info_line_status", down)

        response = client.get("/api/v1/service-hours")

        assert response.status_code == 503
        assert response["Retry-After"] == "120"
        assert errors_of(response)[0]["code"] == "service_unavailable"

    def test_a_post_without_the_csrf_token_to_the_docs_says_so_in_json(self) -> None:
        client = Client(enforce_csrf_checks=True)

        response = client.post("/api/v1/docs", {}, headers={"Accept-Language": "en"})

        assert response.status_code == 403
        (error,) = errors_of(response)
        assert error["code"] == "csrf_failed"
        assert "CSRF" in error["message"]

    def test_a_page_outside_the_api_keeps_its_html(self, client: Client) -> None:
        response = client.get("/no/such/page/")

        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")

    @pytest.mark.parametrize(
        ("language", "message"),
        [
            ("en", "We could not read the request body: check that it is valid JSON"),
            ("it", "Non riusciamo a leggere il corpo della richiesta: controlla che sia un JSON"),
        ],
    )
    def test_a_body_that_is_not_json_is_told_in_the_clients_language(
        self, client: Client, supply: Supply, language: str, message: str
    ) -> None:
        response = client.post(
            "/api/v1/readings",
            "{not json",
            content_type="application/json",
            headers={"Accept-Language": language},
        )

        assert response.status_code == 400
        (error,) = errors_of(response)
        assert error["code"] == "body_invalid"
        assert error["message"].startswith(message)


class TestTheSubmissionsAnswer:
    """POST /api/v1/readings writes its answer by hand: the bytes ninja renders ReadingOut
    to, for every kind of reading it may answer with."""

    def test_is_what_ninja_renders_of_reading_out(self) -> None:
        from datetime import date

        from autolettura.api import api
        from autolettura.readings.apis import reading_out, reading_response
        from autolettura.readings.models import Reading, Source, Status
        from autolettura.rules.window import Window
        from tests.conftest import make_supply, rome

        supply = make_supply(installed_on=date(2025, 1, 1))
        meter = supply.meters.get()
        window = Window(date(2026, 12, 15), date(2026, 12, 31))
        kinds = [
            # Accepted with its consumption; discarded with a reason and none; a reading
            # without a receipt, of another source and channel.
            (Status.ACCEPTED, None, 25, "AL-2026-000001", Source.SELF, "APP"),
            (Status.DISCARDED, "outside_window", None, "AL-2026-000002", Source.SELF, "WEB"),
            (Status.UNDER_REVIEW, "implausible", None, None, Source.OPERATOR, "COUNTER"),
        ]
        for n, (status, reason, consumption, receipt, source, channel) in enumerate(kinds):
            reading = Reading.objects.create(
                supply=supply,
                meter=meter,
                read_on=date(2026, 12, 10 + n),
                value=120 + n,
                source=source,
                channel=channel,
                status=status,
                reason=reason,
                consumption_m3=consumption,
                receipt=receipt,
                submitted_at=rome(2026, 12, 20, 10, n),
            )
            reading = Reading.objects.select_related("supply", "meter").get(pk=reading.pk)
            for code in (201, 200):
                expected = api.create_response(
                    None,  # type: ignore[arg-type]
                    reading_out(reading, window).model_dump(),
                    status=code,
                )
                found = reading_response(reading, window, code)
                assert found.content == expected.content
                assert found.status_code == code
                assert found["Content-Type"] == expected["Content-Type"]


class TestTheMiddlewarePassedByOnOperations:
    """Sessions, the signed-in user and flash messages are passed by on the API's
    operations (autolettura.api.API_OPERATIONS), and only there."""

    def test_every_operation_but_sign_in_and_nothing_else(self, document: dict[str, Any]) -> None:
        from autolettura.api import API_OPERATIONS

        for path in document["paths"]:
            assert path.startswith(API_OPERATIONS) != path.startswith("/api/v1/auth/"), path
        for page in ("/api/v1/docs", "/api/v1/openapi.json", "/", "/area-clienti/"):
            assert not page.startswith(API_OPERATIONS), page

    def test_an_operation_has_no_session_a_page_has_one(self, client: Client) -> None:
        from django.contrib.sessions.middleware import SessionMiddleware

        seen: list[bool] = []
        real = SessionMiddleware.process_request

        def spy(middleware: Any, request: Any) -> None:
            real(middleware, request)
            seen.append(hasattr(request, "session"))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(SessionMiddleware, "process_request", spy)
            client.get("/api/v1/service-hours")
            assert seen == []
            client.get("/api/v1/docs")
            assert seen == [True]
