"""WSGI entry point for gunicorn: ``services.goals.entrypoints.wsgi:app``."""

from services.goals.config import SERVICE, GoalsConfig
from services.goals.entrypoints.api.app import create_app
from shared.observability.logging import configure_logging

_config = GoalsConfig.from_env()
configure_logging(SERVICE, _config.log_level, _config.log_json)
app = create_app(_config)
