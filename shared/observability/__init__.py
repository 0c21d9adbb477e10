"""Logs and metrics shared by every service."""
