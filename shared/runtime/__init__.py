"""Running a service's processes: background worker loops and the gunicorn launcher.

The developer tools that run the whole platform on one machine (``make run``, the embedded
broker, ``make demo``) live in the top-level ``tools`` package, outside the production image.
"""
