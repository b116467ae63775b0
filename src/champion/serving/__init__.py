"""Serving: load a registered model by alias and answer HTTP requests for it.

Layers, from the wire inwards (MLServer's split: thin endpoints over a data plane):

- ``app.py``: the HTTP layer; parses, calls the data plane or the lifecycle, shapes
  the response. ``envelope.py``: what every request and response gets (request id,
  limits, request metrics), as plain ASGI. ``protocol.py``: request bodies to rows.
- ``scoring.py``: the data plane; route → prepare → predict → count → log → shadow.
- ``lifecycle.py``: start-up, shutdown, the reload loop and the monitoring loop
  (``watch.py``: one monitoring run published to Prometheus).
- ``deployment.py``: the arms (champion, canary, shadow), routing and hot reload.
- ``model.py``: one loaded version (checking, predicting, explaining); ``inputs.py``:
  rows to model inputs (the ONNX graph itself is ``champion.onnx``).
- ``metrics.py``: Prometheus; ``page.py``: the try-it page; ``runner.py``: uvicorn,
  worker processes and the claim on the port; ``openapi.py``: the OpenAPI document,
  written for the model served.

May import: everything below it (``champion.errors``, ``settings``, ``artifacts``,
``templating``, ``project``, ``onnx``, ``registry``, ``training.explain`` for ``/explain``,
``monitoring``).
Nothing imports serving but the CLI and the demo. Only ``app.py``, ``envelope.py`` and
``runner.py`` know the web framework.
"""
