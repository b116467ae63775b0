"""Which model versions a server answers with, and keeping them current.

A server has one to three *arms*:

- ``champion``: the alias it serves (or any alias/version given), answering by default;
- ``canary``: another version or alias answering a share of the traffic;
- ``shadow``: a version scored on the same requests, logged, never returned.

Each arm is a :class:`ModelSlot`: a *reference* (an alias such as ``champion`` or a
version number) and the :class:`ServedModel` loaded for it. :meth:`ModelSlot.refresh`
re-resolves an alias; when it points somewhere new, the new version is loaded and checked
off to the side, then swapped in with one assignment, so a request that already holds the
old model finishes on it. A version that fails to load or check is refused (and not
retried until the alias moves again); the old one keeps serving. An unreachable
tracking store changes nothing but the status.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from champion.errors import ChampionError, TrackingError, UsageError
from champion.serving.model import ServedModel, load_served_model, resolve_version
from champion.settings import Settings

log = logging.getLogger("champion.serving")

CHAMPION, CANARY, SHADOW = "champion", "canary", "shadow"
UNCHANGED, RELOADED, FAILED, UNREACHABLE = "unchanged", "reloaded", "failed", "unreachable"


@dataclass(frozen=True)
class Traffic:
    """How requests are shared between arms.

    Attributes:
        alias: the reference the champion arm serves (an alias or a version number).
        canary: the canary arm's reference (e.g. ``challenger`` or ``3``), or None.
        canary_percent: the share of requests, 0–100, the canary answers.
        shadow: the shadow arm's reference, or None.
        route_header: a request header whose value keeps one client on one arm.
    """

    alias: str = CHAMPION
    canary: str | None = None
    canary_percent: float = 0.0
    shadow: str | None = None
    route_header: str = "X-Client-Key"

    @classmethod
    def parse_canary(cls, text: str) -> tuple[str, float]:
        """``"3:10"`` or ``"challenger:10"`` → (reference, percent).

        Raises:
            UsageError: not REFERENCE:PERCENT with 0 < PERCENT < 100.
        """
        reference, _, percent = text.rpartition(":")
        try:
            share = float(percent)
        except ValueError:
            share = -1.0
        if not reference or not 0 < share < 100:
            raise UsageError(
                f"--canary must be VERSION:PERCENT with 0 < PERCENT < 100 "
                f"(e.g. 3:10 or challenger:10); got '{text}'",
                field="--canary",
            )
        return reference, share


@dataclass
class SlotStatus:
    """What a slot's last refresh found (shown by ``/version``)."""

    checked_at: float | None = None
    reloaded_at: float | None = None
    tracking: str = "reachable"
    failed_version: str | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class ModelSlot:
    """One arm's reference and the model currently loaded for it."""

    def __init__(
        self,
        arm: str,
        reference: str,
        resolve: Callable[[], str],
        load: Callable[[str], ServedModel],
    ) -> None:
        self.arm = arm
        self.reference = reference
        self._resolve = resolve
        self._load = load
        self._lock = threading.Lock()  # one refresh at a time per slot
        self.model: ServedModel | None = None
        self.status = SlotStatus()

    @property
    def follows_alias(self) -> bool:
        return not self.reference.isdigit()

    def load_now(self) -> ServedModel:
        """Load the referenced version (at start-up; errors propagate)."""
        self.model = self._load(self._resolve())
        self.status.reloaded_at = time.time()
        return self.model

    def refresh(self) -> str:
        """Reload if the alias has moved. Returns what happened: ``unchanged``,
        ``reloaded``, ``failed`` (the new version was refused) or ``unreachable``."""
        with self._lock:
            self.status.checked_at = time.time()
            try:
                target = self._resolve()
            except TrackingError as e:
                self.status.tracking = UNREACHABLE
                log.warning("%s arm: tracking store unreachable, still serving: %s", self.arm, e)
                return UNREACHABLE
            except ChampionError as e:  # e.g. the alias was deleted: keep what we have
                self.status.tracking = "reachable"
                self.status.error = str(e)
                log.warning("%s arm: cannot resolve '%s': %s", self.arm, self.reference, e)
                return FAILED
            self.status.tracking = "reachable"
            current = self.model.version if self.model else None
            if target in (current, self.status.failed_version):
                return UNCHANGED
            try:
                fresh = self._load(target)
            except Exception as e:  # anything at all: this version must not serve
                self.status.failed_version = target
                self.status.error = f"version {target} refused: {e}"
                log.error("%s arm: %s; still serving %s", self.arm, self.status.error, current)
                return FAILED
            self.model = fresh  # the swap: one reference assignment
            self.status.reloaded_at = time.time()
            self.status.failed_version = None
            self.status.error = None
            log.warning("%s arm: now serving version %s (was %s)", self.arm, target, current)
            return RELOADED


class Deployment:
    """The arms of one server and how a request picks one."""

    def __init__(self, name: str, traffic: Traffic, slots: dict[str, ModelSlot]) -> None:
        self.name = name
        self.traffic = traffic
        self.slots = slots
        self.explanations_warm = False  # set by warm_explanations

    @classmethod
    def load(
        cls,
        settings: Settings,
        name: str,
        traffic: Traffic,
        *,
        loader: Callable[..., ServedModel] = load_served_model,
    ) -> Deployment:
        """Resolve and load every arm.

        Raises:
            NotFoundError, ModelUnavailable: an arm cannot be loaded (the server does not start).
        """
        references = {CHAMPION: traffic.alias, CANARY: traffic.canary, SHADOW: traffic.shadow}
        slots = {}
        for arm, reference in references.items():
            if reference is None:
                continue
            slot = ModelSlot(
                arm,
                reference,
                resolve=lambda r=reference: resolve_version(settings, name, r),
                load=lambda version, r=reference: loader(settings, name, r, version=version),
            )
            slot.load_now()
            slots[arm] = slot
        return cls(name, traffic, slots)

    @property
    def champion(self) -> ModelSlot:
        return self.slots[CHAMPION]

    @property
    def shadow(self) -> ModelSlot | None:
        return self.slots.get(SHADOW)

    def route(self, key: str | None) -> ModelSlot:
        """The arm that answers a request: the canary for ``canary_percent`` of requests
        (of client keys, when the request has one, so a client stays on its arm)."""
        canary = self.slots.get(CANARY)
        if canary is None:
            return self.champion
        point = random.random() * 100 if key is None else bucket(key)
        return canary if point < self.traffic.canary_percent else self.champion

    def wait_idle(self) -> None:
        """Return once no refresh is running (at shutdown: a load in a thread cannot be
        cancelled, and must not outlive the server)."""
        for slot in self.slots.values():
            with slot._lock:
                pass

    def warm_explanations(self) -> None:
        """Warm every arm's explanations (:meth:`ServedModel.warm_explanations`); a
        failure is logged, never raised: ``/explain`` then pays on its first call."""
        for slot in self.slots.values():
            warm_explanations(slot.model, slot.arm)
        self.explanations_warm = True

    def refresh(self) -> dict[str, str]:
        """Refresh every arm that follows an alias; arm → outcome."""
        return {arm: slot.refresh() for arm, slot in self.slots.items() if slot.follows_alias}


def warm_explanations(model: ServedModel | None, arm: str) -> None:
    """Warm ``model``'s explanations, logging (not raising) a failure."""
    if model is None:
        return
    try:
        model.warm_explanations()
    except Exception as e:  # warming is an optimisation: never take serving down
        log.warning("%s arm: explanations not warmed for version %s: %s", arm, model.version, e)


def bucket(key: str) -> float:
    """A client key's fixed point in [0, 100): the same key always lands on the same arm,
    and keys spread evenly (a hash, not Python's per-process salted ``hash``)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100
