"""Helpers the tests share: real stores, real servers, a real browser.

``projects`` writes and trains projects on fresh stores, ``serving`` runs an app on a
real uvicorn, ``browser`` starts Debian's Chromium, ``tracking_server`` a real
``mlflow server`` on PostgreSQL.
"""
