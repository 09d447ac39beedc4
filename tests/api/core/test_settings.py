"""Settings are validated at start-up and refuse what cannot work, naming the variable to fix."""
from __future__ import annotations

import re

import pytest

from api.core.settings import PLACEHOLDER_SECRET, Settings, SettingsError, load_settings


@pytest.fixture
def environ(monkeypatch):
    """Set the process environment as a deployment would, every KALAS_ variable of the test run's own removed."""
    import os

    for name in [n for n in os.environ if n.startswith("KALAS_")]:
        monkeypatch.delenv(name)

    def load(values: dict[str, str]) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        try:
            return load_settings()
        finally:
            for name in values:
                monkeypatch.delenv(name)

    return load


def test_development_defaults_work(environ):
    settings = environ({})
    assert settings.environment == "development" and settings.secret_key == PLACEHOLDER_SECRET


def test_placeholder_or_short_secret_is_refused_outside_development(environ):
    with pytest.raises(SettingsError, match="KALAS_SECRET_KEY"):
        environ({"KALAS_ENVIRONMENT": "production"})
    with pytest.raises(SettingsError, match="at least 32"):
        environ({"KALAS_ENVIRONMENT": "production", "KALAS_SECRET_KEY": "short"})
    good = environ({"KALAS_ENVIRONMENT": "production", "KALAS_SECRET_KEY": "x" * 40})
    assert good.environment == "production"


def test_the_scripts_and_compose_variables_are_left_to_them(environ):
    # Exported for training or benchmarks, or for compose, they must not stop the API from starting.
    settings = environ({"KALAS_SHARED_DATA": "/data/shared", "KALAS_IMAGE_TAG": "1.2", "KALAS_API_PORT": "9000",
                                  "KALAS_DATABASE": "shop"})
    assert settings.database == "shop"


def test_unknown_and_invalid_variables_are_named(environ):
    with pytest.raises(SettingsError, match="KALAS_MONGO_URL"):
        environ({"KALAS_MONGO_URL": "mongodb://x"})
    with pytest.raises(SettingsError, match="KALAS_MONGO_URI"):
        environ({"KALAS_MONGO_URI": "postgres://x"})
    with pytest.raises(SettingsError, match="KALAS_MAX_UPLOAD_BYTES"):
        environ({"KALAS_MAX_UPLOAD_BYTES": str(64 * 2**20)})  # above the 15 MiB the API allows
    with pytest.raises(SettingsError, match="not both"):
        environ({"KALAS_INFERENCE_URL": "http://127.0.0.1:8080", "KALAS_MODEL_STORE": "model_store"})


def test_lists_are_read_from_commas(environ):
    settings = environ({"KALAS_FETCH_ALLOW_ORIGINS": "images.intra:80, CDN.intra:8080,[::1]:8000"})
    assert settings.fetch_allow_origins == frozenset({"images.intra:80", "cdn.intra:8080", "::1:8000"})


@pytest.mark.parametrize("origin", ["http://x:1/", "images.intra", "127.0.0.1:port"])
def test_an_allowed_origin_that_could_never_match_is_refused(environ, origin):
    """An origin is matched as a request's "host:port": a URL or a bare host would silently let nothing through."""
    with pytest.raises(SettingsError, match=f"KALAS_FETCH_ALLOW_ORIGINS: .*each origin is host:port.*{re.escape(origin)}"):
        environ({"KALAS_FETCH_ALLOW_ORIGINS": f"127.0.0.1:9000,{origin}"})


def test_app_factory_reads_the_environment_only_when_not_given_settings(monkeypatch):
    from api.main import create_app

    monkeypatch.setenv("KALAS_ENVIRONMENT", "production")  # the process environment, not our code, is changed
    with pytest.raises(SettingsError):
        create_app()
    # Given settings are used as they are: the production environment above would refuse the placeholder secret.
    app = create_app(Settings(environment="development"))
    assert app.openapi()["info"]["title"] == "Kalas-Iris API"
