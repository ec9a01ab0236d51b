"""Rows as the store returns them: frozen values, no database handles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

import numpy as np
import numpy.typing as npt


class WatchlistStatus(StrEnum):
    """Where a gallery stands as a watchlist. Expiry is not a status: it follows from the clock.

    ``unbound`` galleries predate watchlists (no purpose); they cannot be searched 1:N.
    """

    UNBOUND = "unbound"
    PENDING = "pending"
    ACTIVE = "active"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class GalleryRecord:
    """A gallery and, since schema 2, its watchlist terms."""

    gallery_id: str
    name: str
    contract_id: str
    created_at: datetime
    purpose: str | None = None
    legal_basis: str | None = None
    owner: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    match_retention_days: float | None = None
    max_identities: int | None = None
    status: WatchlistStatus = WatchlistStatus.UNBOUND


def _no_metadata() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    identity_id: str
    gallery_id: str
    display_name: str
    created_at: datetime
    template_count: int = 0
    basis: str | None = None
    source: str | None = None
    enrolled_by: str | None = None
    metadata: Mapping[str, object] = field(default_factory=_no_metadata, hash=False)


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    template_id: str
    identity_id: str
    contract_id: str
    embedding: npt.NDArray[np.float32]
    source: str
    created_at: datetime
    encrypted: bool = False
