"""Monitoring: the prediction log, feedback, drift, live performance and alerts.

May import: ``champion.errors``, ``champion.settings``, ``champion.artifacts``,
``champion.templating``, ``champion.project`` and ``champion.registry``. Never
training or serving: the server calls monitoring, not the other way round
(``tests/test_layout.py`` holds every package to its rule).
"""
