"""Video use-cases: watching a camera against a watchlist, sightings, events and alert delivery.

A watch is started by a person with ``cameras.manage`` (audited, with its purpose and, when it
searches a watchlist, that watchlist checked active). While it runs, the session:

* matches embedded track faces against the watchlist (checked active on every call);
* raises a review candidate when a track's vote names someone (``match.candidate`` audited, a
  ``watchlist_candidate`` event stored; nothing leaves the site);
* stores a sighting for every finished track (``video.sighting`` audited with a ``track_ended``
  event), linking unknown people seen by other cameras within the sighting retention.

A reviewer's confirmation (``Review.decide``) turns a candidate into an ``alert_confirmed``
event owed to every configured external sink; :meth:`Video.dispatcher` delivers them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.core import Faces, Match
from watchkeeper.core.errors import InvalidInputError, WatchkeeperError
from watchkeeper.events.model import (
    AlertConfirmed,
    Event,
    TrackEnded,
    TrackStarted,
    WatchlistCandidate,
)
from watchkeeper.events.outbox import Backoff, Dispatcher, EventLog, EventSink, StoredEvent
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.review import ReviewCandidate, ReviewQueue, new_candidate_id
from watchkeeper.service.site import Act, Site
from watchkeeper.service.video_tracks import TrackSummary
from watchkeeper.store.sightings import SightingDraft, SightingRecord, SightingStore

log = logging.getLogger(__name__)

WATCH_ACTION = "video.watch"
SIGHTING_ACTION = "video.sighting"
TRACK_SEPARATOR = "#track"


def probe_source(camera_id: str, track_id: int) -> str:
    """How a video candidate names its origin in the review queue."""
    return f"{camera_id}{TRACK_SEPARATOR}{int(track_id)}"


def parse_probe_source(source: str) -> tuple[str, int]:
    """(camera, track) from :func:`probe_source`; a still image gives (its name, 0)."""
    camera, sep, track = source.rpartition(TRACK_SEPARATOR)
    if sep and track.isdigit():
        return camera, int(track)
    return source, 0


def external_sinks(site: Site) -> tuple[str, ...]:
    """Names of the configured external sinks (where confirmed alerts are owed)."""
    alerts = site.settings.video.alerts
    names = []
    if alerts.webhook_url:
        names.append("webhook")
    if alerts.mqtt_host:
        names.append("mqtt")
    return tuple(names)


def alert_event(candidate: ReviewCandidate) -> AlertConfirmed:
    """The external alert for a confirmed candidate (same id on every retry)."""
    camera, track = parse_probe_source(candidate.probe_source)
    return AlertConfirmed(
        event_id=f"alert_{candidate.candidate_id}",
        camera_id=camera,
        track_id=track,
        at=candidate.decided_at or candidate.created_at,
        candidate_id=candidate.candidate_id,
        watchlist=candidate.watchlist,
        identity_id=candidate.identity_id,
        display_name=candidate.display_name,
        similarity=round(candidate.similarity, 4),
        confirmed_by=candidate.decided_by or "-",
    )


def record_alert(conn_log: EventLog, candidate: ReviewCandidate, sinks: tuple[str, ...]) -> None:
    """Store the alert of a just-confirmed candidate, owed to ``sinks`` (same transaction)."""
    conn_log.append(alert_event(candidate), deliver_to=sinks, identity_id=candidate.identity_id)


@dataclass
class WatchStats:
    """Counters of one watch session (printed by the CLI, audited at the end)."""

    tracks_started: int = 0
    sightings: int = 0
    candidates: int = 0
    linked_unknowns: int = 0
    errors: int = 0
    candidate_ids: list[str] = field(default_factory=list)


class WatchSession:
    """One camera being watched; created by :meth:`Video.watch`."""

    def __init__(
        self,
        video: Video,
        principal: Principal,
        camera: CameraSettings,
        watchlist: str | None,
        purpose: str,
    ) -> None:
        self._video = video
        self._site = video.site
        self.principal = principal
        self.camera = camera
        self.watchlist = watchlist
        self.purpose = purpose
        self.stats = WatchStats()
        self._link_threshold: float | None = None

    @property
    def camera_id(self) -> str:
        return self.camera.camera_id

    # -- recognition -------------------------------------------------------------------------
    def match(self, faces: Faces) -> tuple[Match, ...]:
        """Answers for embedded faces; all unknown when the watch has no watchlist."""
        if self.watchlist is None or len(faces) == 0:
            return ()
        record = self._site.active_watchlist(self.watchlist)
        return self._video.engine._match(record, faces, None, None)

    # -- events ------------------------------------------------------------------------------
    def track_started(
        self, track_id: int, box: tuple[float, float, float, float], at: datetime
    ) -> TrackStarted:
        """Store a ``track_started`` event (operational, no biometric data: not audited)."""
        event = TrackStarted(camera_id=self.camera_id, track_id=track_id, at=at, box_xyxy=box)
        with self._site.store.transaction() as conn:
            EventLog(conn).append(event)
        self.stats.tracks_started += 1
        return event

    def raise_candidate(self, summary: TrackSummary) -> WatchlistCandidate | None:
        """A track's vote named a watchlist person: queue it for review (audited)."""
        if self.watchlist is None or summary.identity.identity_id is None:
            return None
        support = next(
            (s for s in summary.identity.support if s.identity_id == summary.identity.identity_id),
            None,
        )
        similarity = float(support.mean_similarity or 0.0) if support else 0.0
        cid = new_candidate_id()
        with self._site.act(
            self.principal,
            AuditAction.MATCH,
            f"candidate:{cid}",
            watchlist=self.watchlist,
            purpose=self.purpose,
        ) as act:
            record = self._site.active_watchlist(self.watchlist, act.at)
            ident = self._site.store.get_identity(summary.identity.identity_id)
            templates = self._site.store.templates(identity_id=ident.identity_id)
            crop, key_id = (None, None)
            if summary.crop_jpeg is not None:
                crop, key_id = self._site.store.seal_blob(summary.crop_jpeg, cid + "/probe")
            ReviewQueue(act.conn, act.audit_log).add(
                watchlist=record.name,
                gallery_id=record.gallery_id,
                identity_id=ident.identity_id,
                display_name=ident.display_name,
                template_id=templates[0].template_id if templates else "-",
                similarity=similarity,
                threshold=self._video.engine.threshold(),
                probe_source=probe_source(self.camera_id, summary.track_id),
                searched_by=self.principal.username,
                purpose=self.purpose,
                probe_crop=crop,
                crop_key_id=key_id,
                candidate_id=cid,
                now=act.at,
            )
            event = WatchlistCandidate(
                camera_id=self.camera_id,
                track_id=summary.track_id,
                at=summary.last_seen_at,
                candidate_id=cid,
                watchlist=record.name,
                identity_id=ident.identity_id,
                similarity=round(similarity, 4),
            )
            EventLog(act.conn).append(event)
            act.record(
                details={
                    "identity": ident.identity_id,
                    "similarity": f"{similarity:.4f}",
                    "camera": self.camera_id,
                    "track": summary.track_id,
                    "frames": summary.identity.frames,
                }
            )
        self.stats.candidates += 1
        self.stats.candidate_ids.append(cid)
        return event

    def record_sighting(self, summary: TrackSummary) -> tuple[SightingRecord, TrackEnded]:
        """Store a finished track as a sighting, with its ``track_ended`` event (audited)."""
        ident = summary.identity
        with self._site.act(
            self.principal,
            SIGHTING_ACTION,
            f"camera:{self.camera_id}",
            watchlist=self.watchlist,
            purpose=self.purpose,
        ) as act:
            sighting, linked = self._video.store_sighting(
                act, summary, self.watchlist, self._contract_id()
            )
            event = TrackEnded(
                camera_id=self.camera_id,
                track_id=summary.track_id,
                at=summary.last_seen_at,
                sighting_id=sighting.sighting_id,
                identity_id=ident.identity_id,
                frames=summary.frames,
                duration_s=max(0.0, summary.last_pts_s - summary.first_pts_s),
            )
            EventLog(act.conn).append(event)
            act.record(
                target=f"sighting:{sighting.sighting_id}",
                details={
                    "camera": self.camera_id,
                    "track": summary.track_id,
                    "identified": int(ident.identity_id is not None),
                    "linked": int(linked),
                },
            )
        self.stats.sightings += 1
        self.stats.linked_unknowns += int(linked)
        return sighting, event

    def _contract_id(self) -> str:
        return self._video.engine.contract.contract_id

    def close(self) -> None:
        """Record the end of the watch with its counts."""
        with self._site.act(
            self.principal,
            WATCH_ACTION,
            f"camera:{self.camera_id}",
            watchlist=self.watchlist,
            purpose=self.purpose,
        ) as act:
            act.record(
                details={
                    "stage": "stopped",
                    "tracks": self.stats.tracks_started,
                    "sightings": self.stats.sightings,
                    "candidates": self.stats.candidates,
                }
            )


class Video:
    """Video use-cases over one site (``engine.video``)."""

    def __init__(self, engine: object) -> None:
        from watchkeeper.service.engine import Engine

        if not isinstance(engine, Engine):
            raise InvalidInputError("Video needs an Engine")
        self.engine = engine
        self.site = engine.site

    @property
    def sightings(self) -> SightingStore:
        return SightingStore(self.site.store)

    def watch(
        self,
        principal: Principal,
        camera: CameraSettings,
        watchlist: str | None = None,
        purpose: str = "",
    ) -> WatchSession:
        """Start watching ``camera`` (audited); with a watchlist, matches become candidates."""
        from watchkeeper.service.engine import validate_purpose

        target = f"camera:{camera.camera_id}"
        self.site.check(
            principal, Permission.CAMERAS_MANAGE, WATCH_ACTION, target, watchlist=watchlist
        )
        with self.site.act(
            principal,
            WATCH_ACTION,
            target,
            permission=Permission.CAMERAS_MANAGE,
            watchlist=watchlist,
            purpose=purpose,
        ) as act:
            if watchlist is not None:
                validate_purpose(purpose)
                record = self.site.active_watchlist(watchlist, act.at)
                self.engine.contract.require_same(record.contract_id)
            act.record(details={"stage": "started", "source_kind": camera.resolved_kind.value})
        return WatchSession(self, principal, camera, watchlist, purpose or "camera watch")

    # -- sightings ---------------------------------------------------------------------------
    def link_threshold(self) -> float:
        """Similarity at which unknown people on different cameras are linked (strict)."""
        configured = self.site.settings.video.unknown_link_similarity
        if configured is not None:
            return configured
        fmr = self.site.settings.recognition.target_fmr / 10
        try:
            return self.engine.threshold(fmr)
        except WatchkeeperError:
            return min(1.0, self.engine.threshold() + 0.05)

    def store_sighting(
        self,
        act: Act,
        summary: TrackSummary,
        watchlist: str | None,
        contract_id: str,
    ) -> tuple[SightingRecord, bool]:
        """Insert a sighting in ``act``'s transaction, linking an unknown across cameras."""
        ident = summary.identity
        store = self.sightings
        link_id = None
        linked = False
        display = None
        if ident.identity_id is not None:
            display = self.site.store.get_identity(ident.identity_id).display_name
        elif summary.embedding is not None:
            window = self.site.settings.governance.retention.sightings
            ids, matrix = store.embeddings(
                contract_id,
                since=act.at - timedelta(days=window),
                unknown_only=True,
                exclude_camera=summary.camera_id,
                conn=act.conn,
            )
            if ids:
                sims = matrix @ summary.embedding.astype(np.float32)
                best = int(np.argmax(sims))
                if float(sims[best]) >= self.link_threshold():
                    link_id = store.link_of(act.conn, ids[best]) or store.new_link_id()
                    store.set_link(act.conn, [ids[best]], link_id)
                    linked = True
        draft = SightingDraft(
            camera_id=summary.camera_id,
            track_id=summary.track_id,
            first_seen_at=summary.first_seen_at,
            last_seen_at=summary.last_seen_at,
            first_pts_s=summary.first_pts_s,
            last_pts_s=summary.last_pts_s,
            frames=summary.frames,
            best_box_xyxy=summary.best_box_xyxy,
            detector_score=summary.detector_score,
            quality=summary.quality,
            identity_id=ident.identity_id,
            display_name=display,
            watchlist=watchlist if ident.identity_id is not None else None,
            similarity=summary.best_similarity,
            vote_share=summary.vote_share,
            contract_id=contract_id if summary.embedding is not None else None,
            embedding=summary.embedding,
            crop_jpeg=summary.crop_jpeg,
        )
        return store.insert(act.conn, draft, link_id), linked

    def list_sightings(
        self, principal: Principal, camera_id: str | None = None, limit: int = 100
    ) -> list[SightingRecord]:
        """Recent sightings (a view of biometric records, audited)."""
        with self.site.act(
            principal,
            AuditAction.BIOMETRIC_VIEW,
            f"sightings:{camera_id or 'all'}",
            permission=Permission.GALLERY_VIEW,
            purpose="list sightings",
        ) as act:
            found = self.sightings.recent(camera_id=camera_id, limit=limit)
            act.record(details={"sightings": len(found)})
            return found

    def events(
        self, principal: Principal, after_seq: int = 0, limit: int = 100
    ) -> list[StoredEvent]:
        """Stored events after ``after_seq`` (audited read)."""
        with self.site.act(
            principal,
            "events.read",
            "events",
            permission=Permission.CAMERAS_MANAGE,
            purpose="read events",
        ) as act:
            found = EventLog(act.conn).recent(limit, after_seq=after_seq)
            act.record(details={"events": len(found)})
            return found

    # -- delivery ----------------------------------------------------------------------------
    def sinks(self) -> Mapping[str, EventSink]:
        """The configured external sinks, by name."""
        from watchkeeper.events.sinks import MqttSink, WebhookSink

        alerts = self.site.settings.video.alerts
        out: dict[str, EventSink] = {}
        if alerts.webhook_url:
            out["webhook"] = WebhookSink(alerts.webhook_url, timeout_s=alerts.webhook_timeout_s)
        if alerts.mqtt_host:
            out["mqtt"] = MqttSink(
                alerts.mqtt_host, alerts.mqtt_port, topic_prefix=alerts.mqtt_topic_prefix
            )
        return out

    def dispatcher(self, sinks: Mapping[str, EventSink] | None = None) -> Dispatcher:
        """Delivers owed alerts to the sinks, in order, with backoff (start it yourself)."""
        alerts = self.site.settings.video.alerts
        return Dispatcher(
            self.site.store.transaction,
            self.sinks() if sinks is None else sinks,
            Backoff(alerts.retry_initial_s, 2.0, alerts.retry_max_s),
            clock=self.site.now,
        )

    def emit(self, event: Event, deliver_to: tuple[str, ...] = ()) -> int:
        """Store an event that needs no audit record (counting events, track starts)."""
        with self.site.store.transaction() as conn:
            return EventLog(conn).append(event, deliver_to)
