"""WSGI entry point for gunicorn: ``services.metrics.entrypoints.wsgi:app``."""

from services.metrics.config import SERVICE, MetricsConfig
from services.metrics.entrypoints.api.app import create_app
from shared.observability.logging import configure_logging

_config = MetricsConfig.from_env()
configure_logging(SERVICE, _config.log_level, _config.log_json)
app = create_app(_config)
