"""Security headers on pages and API answers, TLS behaviour, and `check --deploy`."""

from __future__ import annotations

import ast
import multiprocessing
import multiprocessing.queues
import re
import secrets
import subprocess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from autolettura.env import installation_secret_key
from autolettura.security import POLICY
from tests.ops.support import BIN, ROOT, production_env

pytestmark = pytest.mark.django_db

TLS = {
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_SSL_REDIRECT": True,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
}


def assert_security_headers(response: Any) -> None:
    assert response["Content-Security-Policy"] == POLICY
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


class TestSecurityHeaders:
    def test_are_on_a_portal_page(self, client: Client) -> None:
        response = client.get("/")

        assert response.status_code == 200
        assert_security_headers(response)

    def test_are_on_an_api_answer(self, client: Client) -> None:
        response = client.get("/api/v1/openapi.json")

        assert response.status_code == 200
        assert_security_headers(response)

    def test_the_policy_allows_nothing_inline_but_two_hashed_pieces(self) -> None:
        directives = dict(d.split(" ", 1) for d in POLICY.split("; "))

        assert "'unsafe-inline'" not in POLICY
        assert "'unsafe-eval'" not in POLICY
        assert directives["default-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["form-action"] == "'self'"
        assert directives["img-src"] == "'self' data:"
        assert directives["script-src"].count("'sha256-") == 1
        assert directives["style-src"].count("'sha256-") == 1


class TestOverTls:
    def test_browsers_are_told_to_keep_to_https_for_a_year(
        self, client: Client, settings: Any
    ) -> None:
        for name, value in TLS.items():
            setattr(settings, name, value)

        response = client.get("/", headers={"X-Forwarded-Proto": "https"})

        assert response.status_code == 200
        assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"

    def test_plain_http_is_redirected_but_health_and_metrics_are_not(
        self, client: Client, settings: Any
    ) -> None:
        for name, value in TLS.items():
            setattr(settings, name, value)
        settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
        settings.AUTOLETTURA_METRICS_TOKEN = ""
        settings.CELERY_BROKER_URL = ""

        redirected = client.get("/contatti/")

        assert redirected.status_code == 301
        assert redirected["Location"] == "https://testserver/contatti/"
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


def check_deploy(home: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "autolettura"), "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(home, **variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestCheckDeploy:
    PRODUCTION = {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "AUTOLETTURA_REQUIRE_SECRET_KEY": "true",
        "AUTOLETTURA_HTTPS": "true",
        "ALLOWED_HOSTS": "example.org",
    }

    def test_is_clean_for_the_production_settings(self, tmp_path: Path) -> None:
        result = check_deploy(tmp_path, **self.PRODUCTION)

        assert result.returncode == 0, result.stderr + result.stdout
        assert "no issues" in result.stdout

    def test_warns_when_the_site_is_not_served_over_tls(self, tmp_path: Path) -> None:
        result = check_deploy(tmp_path, **{**self.PRODUCTION, "AUTOLETTURA_HTTPS": "false"})

        assert result.returncode != 0
        assert "security.W004" in result.stderr  # no HSTS
        assert "security.W008" in result.stderr  # no redirect to HTTPS


def settings_value(home: Path, name: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """What a production process started in `home` has for setting `name`."""
    return subprocess.run(
        [
            str(BIN / "autolettura"),
            "shell",
            "--no-imports",
            "-c",
            f"from django.conf import settings; print(settings.{name})",
        ],
        cwd=ROOT,
        env=production_env(home, **variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _key_when_told(go: Event, path: Path, keys: multiprocessing.queues.SimpleQueue[str]) -> None:
    go.wait(timeout=30)
    keys.put(installation_secret_key(path))


class TestSecrets:
    SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|_KEY)$")

    def test_settings_take_every_secret_from_the_environment(self) -> None:
        """A secret written in the code would be the same at every utility and in every
        copy of the repository: each must come from a reader of the environment. (The key
        made when none is set is checked by running the settings, below.)"""
        tree = ast.parse((ROOT / "src/autolettura/settings.py").read_text())
        secrets_read = {}
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and self.SECRET_NAME.search(target.id):
                        value = node.value
                        assert isinstance(value, ast.Call), f"{target.id} is not read"
                        secrets_read[target.id] = ast.unparse(value.func)
        assert {"SECRET_KEY", "EMAIL_HOST_PASSWORD", "AUTOLETTURA_WHATSAPP_APP_SECRET"} <= set(
            secrets_read
        )
        assert set(secrets_read.values()) <= {"envstr", "installation_secret_key"}, secrets_read

    def test_an_installation_without_a_key_makes_its_own_once_for_all_its_processes(
        self, tmp_path: Path
    ) -> None:
        first = settings_value(tmp_path, "SECRET_KEY")
        second = settings_value(tmp_path, "SECRET_KEY")
        other = settings_value(tmp_path / "other", "SECRET_KEY")

        assert first.returncode == 0, first.stderr
        kept = tmp_path / "var" / "secret-key"
        assert first.stdout.strip() == second.stdout.strip() == kept.read_text().strip()
        assert len(first.stdout.strip()) >= 50
        assert kept.stat().st_mode & 0o777 == 0o600
        assert other.stdout.strip() != first.stdout.strip()

    def test_processes_starting_at_once_agree_on_one_key(self, tmp_path: Path) -> None:
        """gunicorn's and Celery's processes start together on a new installation: none may
        read a half-written key or keep one of its own."""
        context = multiprocessing.get_context("fork")
        for attempt in range(20):
            path = tmp_path / str(attempt) / "var" / "secret-key"
            go = context.Event()
            keys: multiprocessing.queues.SimpleQueue[str] = context.SimpleQueue()
            starters = [
                context.Process(target=_key_when_told, args=(go, path, keys)) for _ in range(3)
            ]
            for process in starters:
                process.start()
            go.set()
            for process in starters:
                process.join(timeout=30)
            assert [process.exitcode for process in starters] == [0, 0, 0]
            made = {keys.get() for _ in starters}
            assert made == {path.read_text().strip()}
            assert [p.name for p in path.parent.iterdir()] == ["secret-key"]

    def test_the_environment_key_wins_and_no_file_is_made(self, tmp_path: Path) -> None:
        key = secrets.token_urlsafe(50)

        result = settings_value(tmp_path, "SECRET_KEY", SECRET_KEY=key)

        assert result.stdout.strip() == key
        assert not (tmp_path / "var" / "secret-key").exists()

    def test_production_can_refuse_to_start_without_a_key(self, tmp_path: Path) -> None:
        result = settings_value(tmp_path, "SECRET_KEY", AUTOLETTURA_REQUIRE_SECRET_KEY="true")

        assert result.returncode != 0
        assert "SECRET_KEY must be set in production" in result.stderr
        assert not (tmp_path / "var" / "secret-key").exists()
