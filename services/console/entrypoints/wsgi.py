"""WSGI entry point for gunicorn: ``services.console.entrypoints.wsgi:app``."""

from services.console.config import SERVICE, ConsoleConfig
from services.console.entrypoints.web.app import create_app
from shared.observability.logging import configure_logging

_config = ConsoleConfig.from_env()
configure_logging(SERVICE, _config.log_level, _config.log_json)
app = create_app(_config)
