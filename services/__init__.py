"""The platform's services: goals (system of record), metrics and notifications."""
