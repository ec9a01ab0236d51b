"""Events: the typed union that crosses process boundaries, the event log, the outbox and the
external sinks (webhook, MQTT)."""

from watchkeeper.events.model import (
    AlertConfirmed,
    Event,
    TrackEnded,
    TrackStarted,
    WatchlistCandidate,
    parse_event,
)

__all__ = [
    "AlertConfirmed",
    "Event",
    "TrackEnded",
    "TrackStarted",
    "WatchlistCandidate",
    "parse_event",
]
