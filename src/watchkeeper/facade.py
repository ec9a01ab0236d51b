"""The verbs at the package top, with accountability built in and no way around it.

Every search runs as a person (an API token) against a watchlist with a purpose. For home use,
one call sets up a single-person site (four-eyes off, through the audited setting) and returns
that person's token, shown once:

>>> import watchkeeper
>>> token = watchkeeper.init_home_use("~/wk-home")  # doctest: +SKIP
>>> wk = watchkeeper.open("~/wk-home", token=token)  # doctest: +SKIP
>>> wk.create_watchlist("family", purpose="Greet family at the door",
...                     legal_basis="consent of each person", days=365)  # doctest: +SKIP

Models load on first use, never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from watchkeeper.config.settings import Settings
from watchkeeper.core import Faces, Verification
from watchkeeper.core.errors import InvalidInputError, PermissionDeniedError
from watchkeeper.gallery.watchlist import WatchlistTerms
from watchkeeper.governance.authz import Principal
from watchkeeper.governance.review import ReviewCandidate, ReviewStatus
from watchkeeper.service.engine import Engine, EnrolResult, IdentifyResult, ImageInput
from watchkeeper.service.erasure import ErasureReceipt
from watchkeeper.service.oversight import TransparencyReport
from watchkeeper.service.watchlists import WatchlistChange

TOKEN_ENV = "WATCHKEEPER_TOKEN"


def _settings(home: str | Path | None, settings: Settings | None) -> Settings:
    if settings is not None:
        return settings if home is None else settings.model_copy(update={"home": Path(home)})
    return Settings() if home is None else Settings(home=Path(home).expanduser())


class Session:
    """An engine and the person using it: the governed verbs without a principal argument."""

    def __init__(self, engine: Engine, principal: Principal) -> None:
        self.engine = engine
        self.principal = principal

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.close()

    def detect(self, image: ImageInput) -> Faces:
        return self.engine.detect(image)

    def create_watchlist(
        self,
        name: str,
        purpose: str,
        legal_basis: str,
        days: int = 30,
        match_retention_days: float | None = None,
        max_identities: int | None = None,
    ) -> WatchlistChange:
        """A watchlist for ``days``; needs a second person's approval unless four-eyes is off."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise InvalidInputError("days must be a whole number of days, at least 1")
        expires = self.engine.site.now() + timedelta(days=days)
        terms = WatchlistTerms(purpose, legal_basis, expires, match_retention_days, max_identities)
        return self.engine.watchlists.create(self.principal, name, terms)

    def enrol(
        self,
        person: str,
        image: ImageInput,
        watchlist: str,
        basis: str,
        source: str,
        face_index: int | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> EnrolResult:
        return self.engine.enrol(
            self.principal, person, image, watchlist, basis, source, face_index, metadata
        )

    def enrol_folder(
        self, folder: str | Path, watchlist: str, basis: str, source: str
    ) -> list[EnrolResult]:
        items = self.engine.folder_items(Path(folder))
        return self.engine.enrol_many(self.principal, items, watchlist, basis, source)

    def identify(self, image: ImageInput, watchlist: str, purpose: str) -> IdentifyResult:
        return self.engine.identify(self.principal, image, watchlist, purpose)

    def verify(self, image_a: ImageInput, image_b: ImageInput, purpose: str) -> Verification:
        return self.engine.verify(self.principal, image_a, image_b, purpose)

    def review_queue(self) -> tuple[ReviewCandidate, ...]:
        return self.engine.review.list(self.principal, ReviewStatus.PENDING)

    def confirm(self, candidate_id: str, note: str = "") -> ReviewCandidate:
        return self.engine.review.confirm(self.principal, candidate_id, note)

    def reject(self, candidate_id: str, note: str = "") -> ReviewCandidate:
        return self.engine.review.reject(self.principal, candidate_id, note)

    def erase(self, person: str, reason: str) -> ErasureReceipt:
        return self.engine.erasure.erase_person(self.principal, person, reason)

    def report(self, since: datetime, until: datetime) -> TransparencyReport:
        return self.engine.oversight.report(self.principal, since, until)


def open(
    home: str | Path | None = None,
    token: str | None = None,
    settings: Settings | None = None,
) -> Session:
    """A session at the site in ``home`` as the person whose API token is given.

    The token comes from ``token`` or ``$WATCHKEEPER_TOKEN``; without one nothing opens.
    """
    secret = token or os.environ.get(TOKEN_ENV)
    if not secret:
        raise PermissionDeniedError(
            f"an API token is needed: pass token=... or set {TOKEN_ENV} "
            "(`watchkeeper init` prints the first one)"
        )
    engine = Engine(_settings(home, settings))
    try:
        principal = engine.accounts.authenticate(secret)
    except BaseException:
        engine.close()
        raise
    return Session(engine, principal)


def init_home_use(
    home: str | Path | None = None, owner: str = "owner", settings: Settings | None = None
) -> str:
    """Set up a one-person site (every role, four-eyes off, audited) and return its token once."""
    with Engine(_settings(home, settings)) as engine:
        return engine.accounts.initialise(owner, home_use=True).token.plaintext


def detect(image: ImageInput) -> Faces:
    """Find faces: boxes (xyxy pixels), 5 landmarks, quality and rejection reasons.

    Detection says nothing about who anyone is, so it needs no session.

    >>> faces = watchkeeper.detect("group.jpg")  # doctest: +SKIP
    """
    with Engine() as engine:
        return engine.detect(image)
