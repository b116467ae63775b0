"""One exception tree for champion; each error knows its HTTP status and CLI exit code.

::

    ChampionError                  base; the CLI prints ``Name: message`` and exits 2
    ├── SpecError                  the project file is missing, malformed or invalid (400)
    ├── DataError                  a data file or column cannot be used as asked (400)
    ├── NotFoundError              a model, version, alias or run does not exist (404)
    ├── TrackingError              the tracking store refused or failed a request (502)
    ├── ConflictError              the registry or the server is not in the state the
    │                              request needs: the challenger is already champion, no
    │                              previous champion to roll back to, no prediction log
    │                              on this server (409)
    ├── PromotionRefused           the promotion gate said no; exits 1 (409)
    ├── WorkerDied                 a training worker process ended without an answer
    │                              (killed by the system, e.g. out of memory) (500)
    ├── UsageError                 a command-line option has a value it cannot take (400)
    ├── RequestError               a request's body or rows cannot be scored (400, 413
    │                              for a body or row count over the limit, 415)
    ├── NotExplainable             the model has no explainer that answers in time (422)
    └── Unavailable                the server cannot answer this now (503)
        └── ModelUnavailable       no model is loaded yet, or a version cannot be served
                                   (refused at load or reload; the message says why)

Third-party errors are translated where they enter champion (``raise ... from e``),
so callers only ever need to catch :class:`ChampionError`.
"""

from __future__ import annotations


class ChampionError(Exception):
    """Base of every error champion raises on purpose.

    Args:
        message: one line that says what is wrong and what is allowed.
        field: the project-file key, column, file or parameter at fault, if any.
    """

    http_status = 500
    exit_code = 2
    code = "champion_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        """The JSON error body: ``{"error": {"code", "message", "field"}}``."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class SpecError(ChampionError):
    """Raised when the project file cannot be read or does not validate."""

    http_status = 400
    code = "invalid_project_file"


class DataError(ChampionError):
    """Raised when a data file, filter or column cannot be used for the task."""

    http_status = 400
    code = "invalid_data"


class NotFoundError(ChampionError):
    """Raised when a registered model, version, alias or run does not exist."""

    http_status = 404
    code = "not_found"


class TrackingError(ChampionError):
    """Raised when the MLflow tracking store fails a request champion needed."""

    http_status = 502
    code = "tracking_error"


class ConflictError(ChampionError):
    """Raised when the registry or the server is not in the state a request needs:
    promoting the version that already is the champion, rolling back with no earlier
    champion, or asking a server that keeps no prediction log for feedback or its
    dashboard."""

    http_status = 409
    code = "conflict"


class PromotionRefused(ChampionError):
    """Raised when the promotion gate refuses a challenger; carries the evidence."""

    http_status = 409
    exit_code = 1
    code = "promotion_refused"

    def __init__(self, message: str, *, evidence: dict | None = None) -> None:
        super().__init__(message)
        self.evidence = evidence or {}


class WorkerDied(ChampionError):
    """Raised when a worker process of parallel training ended without an answer."""

    code = "worker_died"


class UsageError(ChampionError):
    """Raised when a command-line option's value cannot be used (e.g. ``--canary``)."""

    http_status = 400
    code = "invalid_option"


class RequestError(ChampionError):
    """Raised when a request's body or rows cannot be scored; ``status`` is the 4xx to
    answer (400 by default, 413 for a body or row count over the limit, 415 for a
    content type the server does not read)."""

    http_status = 400
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message, field=field)
        self.http_status = status


class NotExplainable(ChampionError):
    """Raised when ``/explain`` is asked of a model no fast explainer handles (the
    permutation explainer over hundreds of TF-IDF columns would take hours)."""

    http_status = 422
    code = "not_explainable"


class Unavailable(ChampionError):
    """Raised when the server cannot answer a request now, through no fault of the
    client (e.g. the monitoring report failed); trying again later may work."""

    http_status = 503
    code = "unavailable"


class ModelUnavailable(Unavailable):
    """Raised when no model can answer: none is loaded yet, or a version cannot be
    served (not trained by champion, no input example, wrong answers on it, or it does
    not compile when ONNX is required). A refused version never replaces a serving one."""

    code = "model_unavailable"
