"""Retention: a purge that deletes what is past its time, on demand and on a schedule.

Each run is one audited transaction: match records past their watchlist's retention (or the site
default), the people and templates of watchlists that ended longer ago than the grace period,
and audit entries past theirs (leaving a tombstone, see ``governance.audit``). What went is
counted per kind in a ``retention.purge`` record. Sightings (and the events of that age whose
deliveries are done) go after the sightings period; the face crops of sightings that matched
nobody go much sooner, after the unmatched-crops period. Anonymous counting events and
per-minute counts follow the sightings period too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from types import MappingProxyType

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.events.outbox import EventLog
from watchkeeper.gallery.watchlist import has_ended
from watchkeeper.governance.audit import AuditAction, load_private_key
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.retention import DataKind, RetentionPolicy, cutoffs
from watchkeeper.governance.review import ReviewQueue
from watchkeeper.service.site import SYSTEM_ACTOR, Clock, Site
from watchkeeper.store.counting import CountingRecords
from watchkeeper.store.sightings import SightingStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """How many items of each kind a purge removed, and when."""

    at: datetime
    removed: Mapping[DataKind, int]
    identities_removed: int = 0

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def policy_from_settings(site: Site) -> RetentionPolicy:
    return RetentionPolicy.from_days(**site.settings.governance.retention.model_dump())


class Retention:
    def __init__(self, site: Site) -> None:
        self._site = site
        self._scheduler: PurgeScheduler | None = None

    def purge(self, principal: Principal | None) -> PurgeReport:
        """Delete everything past its retention now. ``principal=None`` is the scheduler."""
        policy = policy_from_settings(self._site)
        with self._site.act(
            principal,
            AuditAction.RETENTION_PURGE,
            "retention",
            permission=Permission.RETENTION_PURGE,
            purpose="retention purge" + (" (scheduled)" if principal is None else ""),
        ) as act:
            limits = cutoffs(policy, act.at)
            store, catalog = self._site.store, self._site.catalog
            queue = ReviewQueue(act.conn, act.audit_log)
            galleries = store.list_galleries()
            matches = 0
            for record in galleries:
                keep = (
                    timedelta(days=record.match_retention_days)
                    if record.match_retention_days is not None
                    else policy.match_records
                )
                matches += queue.purge_before(record.gallery_id, act.at - keep)
            matches += queue.purge_orphans_before(
                (g.gallery_id for g in galleries), limits[DataKind.MATCH_RECORDS]
            )
            templates = identities = 0
            grace = limits[DataKind.EXPIRED_WATCHLIST_TEMPLATES]
            for record in galleries:
                ended = has_ended(record, act.at)
                if ended is None or ended > grace:
                    continue
                for ident in store.list_identities(record.gallery_id, limit=10**9):
                    templates += len(catalog.remove_identity(act.conn, ident.identity_id))
                    identities += 1
                act.after_commit.append(partial(catalog.forget_index, record.gallery_id))
            # Counting events and their minute counts are anonymous, but they still record when
            # someone walked where: they follow the sightings period.
            counting_events, count_buckets = CountingRecords(store).purge_before(
                act.conn, limits[DataKind.SIGHTINGS]
            )
            audit_removed = 0
            key_path = self._site.settings.governance.audit_signing_key
            result = act.audit_log.purge_before(
                limits[DataKind.AUDIT_ENTRIES],
                actor=principal.username if principal else SYSTEM_ACTOR,
                role=principal.role_names if principal else "system",
                purpose="audit retention",
                signing_key=None if key_path is None else load_private_key(key_path),
                now=act.at,
            )
            if result is not None:
                audit_removed = result.purged_count
            sighting_store = SightingStore(store)
            sightings = sighting_store.purge_before(act.conn, limits[DataKind.SIGHTINGS])
            EventLog(act.conn).purge_before(limits[DataKind.SIGHTINGS])
            crops = sighting_store.drop_unmatched_crops_before(
                act.conn, limits[DataKind.UNMATCHED_FACE_CROPS]
            )
            removed = {
                DataKind.UNMATCHED_FACE_CROPS: crops,
                DataKind.SIGHTINGS: sightings,
                DataKind.MATCH_RECORDS: matches,
                DataKind.EXPIRED_WATCHLIST_TEMPLATES: templates,
                DataKind.AUDIT_ENTRIES: audit_removed,
            }
            act.record(
                details={
                    **{kind.value: count for kind, count in removed.items()},
                    "identities": identities,
                    "counting_events": counting_events,
                    "count_buckets": count_buckets,
                }
            )
            return PurgeReport(act.at, MappingProxyType(removed), identities)

    # -- schedule ------------------------------------------------------------------------------
    def scheduler(
        self, clock: Clock | None = None, interval_s: float | None = None
    ) -> PurgeScheduler:
        return PurgeScheduler(
            self,
            interval_s or self._site.settings.governance.purge_interval_s,
            clock or self._site.now,
        )

    def start_schedule(self, poll_s: float = 60.0) -> PurgeScheduler:
        """Purge in a background thread every ``governance.purge_interval_s`` seconds."""
        if self._scheduler is None:
            self._scheduler = self.scheduler()
            self._scheduler.start(poll_s)
        return self._scheduler

    def stop_schedule(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None


class PurgeScheduler:
    """Runs a purge whenever one is due; :meth:`run_pending` is the whole logic, so tests drive
    it with their own clock and the thread only calls it now and then."""

    def __init__(self, retention: Retention, interval_s: float, clock: Clock) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._retention = retention
        self._interval = timedelta(seconds=interval_s)
        self._clock = clock
        self.next_due: datetime | None = None
        self.last_report: PurgeReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_pending(self) -> PurgeReport | None:
        """Purge if due (always on the first call); returns the report, or None if not due."""
        now = self._clock()
        if self.next_due is not None and now < self.next_due:
            return None
        self.next_due = now + self._interval
        self.last_report = self._retention.purge(None)
        return self.last_report

    def start(self, poll_s: float = 60.0) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(poll_s,), name="watchkeeper-purge", daemon=True
        )
        self._thread.start()

    def _loop(self, poll_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except WatchkeeperError:
                log.exception("scheduled retention purge failed; will retry")
            self._stop.wait(poll_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
