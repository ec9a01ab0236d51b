"""Rows as the store returns them: frozen values, no database handles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class GalleryRecord:
    gallery_id: str
    name: str
    contract_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    identity_id: str
    gallery_id: str
    display_name: str
    created_at: datetime
    template_count: int = 0


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    template_id: str
    identity_id: str
    contract_id: str
    embedding: npt.NDArray[np.float32]
    source: str
    created_at: datetime
