"""Serving: load a registered model by alias and answer HTTP requests for it.

``model.py`` owns the model (loading, input preparation, prediction), ``protocol.py``
turns request bodies into rows, ``app.py`` is the HTTP layer that only translates.
"""
