"""WSGI entry point for gunicorn: ``services.notifications.entrypoints.wsgi:app``."""

from services.notifications.config import SERVICE, NotificationsConfig
from services.notifications.entrypoints.api.app import create_app
from shared.observability.logging import configure_logging

_config = NotificationsConfig.from_env()
configure_logging(SERVICE, _config.log_level, _config.log_json)
app = create_app(_config)
