"""Monitoring: the prediction log, feedback, drift, live performance and alerts."""
