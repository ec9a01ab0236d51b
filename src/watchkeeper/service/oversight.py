"""Oversight: verifying and reading the audit log, signed checkpoints, transparency reports.

The transparency report is derived from the audit log alone (the source of truth), so it counts
what was recorded, for any period, per watchlist: searches, candidates, confirmations,
rejections, enrolments, refusals; and site-wide: erasures, purges, approvals and settings
changes (four-eyes switched off shows here, with who, when and why).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from watchkeeper.core.errors import ConfigError, InvalidInputError
from watchkeeper.governance.audit import (
    AuditAction,
    AuditPage,
    AuditRecord,
    ChainReport,
    Checkpoint,
    CheckpointReport,
    Outcome,
    generate_signing_key,
    load_private_key,
    load_public_key,
)
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.service.site import Site

_PAGE = 1000


@dataclass
class WatchlistActivity:
    """What happened on one watchlist in the period."""

    watchlist: str
    searches: int = 0
    candidates: int = 0
    confirmed: int = 0
    rejected: int = 0
    enrolments: int = 0
    refusals: int = 0
    changes: int = 0

    @property
    def measured_fmr(self) -> float | None:
        decided = self.confirmed + self.rejected
        return None if decided == 0 else self.rejected / decided


@dataclass(frozen=True, slots=True)
class SettingsChange:
    at: datetime
    actor: str
    setting: str
    from_value: str
    to_value: str
    reason: str


@dataclass
class TransparencyReport:
    """Counts for ``[since, until)`` taken from the audit log."""

    since: datetime
    until: datetime
    chain_ok: bool
    chain_summary: str
    four_eyes_now: bool
    watchlists: dict[str, WatchlistActivity] = field(default_factory=dict)
    searches: int = 0
    verifications: int = 0
    candidates: int = 0
    confirmations: int = 0
    rejections: int = 0
    erasures: int = 0
    erased_identities: int = 0
    purges: int = 0
    purged_items: int = 0
    approvals_requested: int = 0
    approvals_granted: int = 0
    approvals_rejected: int = 0
    refusals: int = 0
    settings_changes: list[SettingsChange] = field(default_factory=list)

    def watchlist(self, name: str) -> WatchlistActivity:
        return self.watchlists.setdefault(name, WatchlistActivity(name))

    # -- output ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        return {
            "period": {"from": self.since.isoformat(), "to": self.until.isoformat()},
            "audit_chain": {"intact": self.chain_ok, "summary": self.chain_summary},
            "four_eyes_now": "on" if self.four_eyes_now else "off",
            "totals": {
                "searches": self.searches,
                "verifications": self.verifications,
                "candidates": self.candidates,
                "confirmations": self.confirmations,
                "rejections": self.rejections,
                "erasures": self.erasures,
                "erased_identities": self.erased_identities,
                "purges": self.purges,
                "purged_items": self.purged_items,
                "approvals_requested": self.approvals_requested,
                "approvals_granted": self.approvals_granted,
                "approvals_rejected": self.approvals_rejected,
                "refusals": self.refusals,
                "settings_changes": len(self.settings_changes),
            },
            "watchlists": [
                {
                    "watchlist": w.watchlist,
                    "searches": w.searches,
                    "candidates": w.candidates,
                    "confirmed": w.confirmed,
                    "rejected": w.rejected,
                    "measured_false_match_rate": w.measured_fmr,
                    "enrolments": w.enrolments,
                    "changes": w.changes,
                    "refusals": w.refusals,
                }
                for w in sorted(self.watchlists.values(), key=lambda w: w.watchlist)
            ],
            "settings_changes": [
                {
                    "at": c.at.isoformat(),
                    "by": c.actor,
                    "setting": c.setting,
                    "from": c.from_value,
                    "to": c.to_value,
                    "reason": c.reason,
                }
                for c in self.settings_changes
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        lines = [
            f"Transparency report {self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M} UTC",
            f"Audit chain: {self.chain_summary}",
            f"Four-eyes approval is {'ON' if self.four_eyes_now else 'OFF'} now.",
            f"Searches: {self.searches} 1:N, {self.verifications} 1:1. Candidates: "
            f"{self.candidates}; confirmed {self.confirmations}, rejected {self.rejections}.",
            f"Erasures: {self.erasures} ({self.erased_identities} identities). Purges: "
            f"{self.purges} ({self.purged_items} items).",
            f"Approvals: {self.approvals_requested} requested, {self.approvals_granted} "
            f"granted, {self.approvals_rejected} rejected. Refused actions: {self.refusals}.",
        ]
        if self.settings_changes:
            lines.append("Settings changes:")
            lines += [
                f"  {c.at:%Y-%m-%d %H:%M} {c.actor}: {c.setting} {c.from_value} -> "
                f"{c.to_value} ({c.reason})"
                for c in self.settings_changes
            ]
        else:
            lines.append("Settings changes: none.")
        if self.watchlists:
            lines.append("Per watchlist:")
            for w in sorted(self.watchlists.values(), key=lambda w: w.watchlist):
                fmr = "n/a" if w.measured_fmr is None else f"{w.measured_fmr:.1%}"
                lines.append(
                    f"  {w.watchlist}: {w.searches} searches, {w.candidates} candidates, "
                    f"{w.confirmed} confirmed, {w.rejected} rejected (measured false-match "
                    f"rate {fmr}), {w.enrolments} enrolments, {w.changes} changes, "
                    f"{w.refusals} refusals"
                )
        return "\n".join(lines)

    def chart_png(self) -> bytes:
        """A bar chart per watchlist of searches, candidates, confirmed and rejected."""
        from PIL import Image, ImageDraw

        series = ("searches", "candidates", "confirmed", "rejected")
        colours = ((70, 110, 180), (230, 160, 40), (60, 160, 90), (200, 60, 60))
        rows = sorted(self.watchlists.values(), key=lambda w: w.watchlist) or [
            WatchlistActivity("(no activity)")
        ]
        width, group_w, top, bottom = 120 + 140 * len(rows), 140, 60, 60
        height = 360
        image = Image.new("RGB", (max(width, 480), height), "white")
        draw = ImageDraw.Draw(image)
        draw.text(
            (10, 10),
            f"Watchkeeper transparency report {self.since:%Y-%m-%d} to {self.until:%Y-%m-%d}",
            fill="black",
        )
        for i, (name, colour) in enumerate(zip(series, colours, strict=True)):
            draw.rectangle((10 + i * 110, 30, 20 + i * 110, 40), fill=colour)
            draw.text((24 + i * 110, 29), name, fill="black")
        peak = max([1] + [getattr(w, s) for w in rows for s in series])
        plot_h = height - top - bottom
        base_y = height - bottom
        draw.line((60, base_y, image.width - 10, base_y), fill="black")
        for g, w in enumerate(rows):
            x0 = 70 + g * group_w
            for i, (name, colour) in enumerate(zip(series, colours, strict=True)):
                value = getattr(w, name)
                bar_h = int(plot_h * value / peak)
                left = x0 + i * 28
                draw.rectangle((left, base_y - bar_h, left + 22, base_y), fill=colour)
                draw.text((left + 2, base_y - bar_h - 12), str(value), fill="black")
            draw.text((x0, base_y + 8), w.watchlist[:20], fill="black")
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()


def _tally(report: TransparencyReport, record: AuditRecord) -> None:
    action, details = record.action, record.details
    watch = report.watchlist(record.watchlist) if record.watchlist else None
    if record.outcome is Outcome.REFUSED:
        report.refusals += 1
        if watch is not None:
            watch.refusals += 1
        return
    if record.outcome is not Outcome.SUCCESS:
        return
    if action == AuditAction.SEARCH_IDENTIFY:
        report.searches += 1
        if watch is not None:
            watch.searches += 1
    elif action == AuditAction.SEARCH_VERIFY:
        report.verifications += 1
    elif action == AuditAction.MATCH:
        report.candidates += 1
        if watch is not None:
            watch.candidates += 1
    elif action == AuditAction.REVIEW_DECIDE:
        confirmed = details.get("decision") == "confirmed"
        if confirmed:
            report.confirmations += 1
        else:
            report.rejections += 1
        if watch is not None:
            if confirmed:
                watch.confirmed += 1
            else:
                watch.rejected += 1
    elif action == AuditAction.ENROL and "template" in details:
        if watch is not None and details.get("template") != "duplicate":
            watch.enrolments += 1
    elif action == AuditAction.ERASE:
        report.erasures += 1
        identities = details.get("identities", 0)
        report.erased_identities += identities if isinstance(identities, int) else 0
    elif action == AuditAction.RETENTION_PURGE:
        report.purges += 1
        report.purged_items += sum(
            v for k, v in details.items() if isinstance(v, int) and k != "identities"
        )
    elif action == AuditAction.APPROVAL_REQUEST:
        report.approvals_requested += 1
    elif action == AuditAction.APPROVAL_APPROVE:
        report.approvals_granted += 1
    elif action == AuditAction.APPROVAL_REJECT:
        report.approvals_rejected += 1
    elif action == AuditAction.SETTINGS_CHANGE:
        report.settings_changes.append(
            SettingsChange(
                record.at,
                record.actor,
                str(details.get("setting", record.target)),
                str(details.get("from_value", "?")),
                str(details.get("to_value", "?")),
                record.purpose,
            )
        )
    elif action in (AuditAction.WATCHLIST_CREATE, AuditAction.WATCHLIST_CHANGE) and watch:
        watch.changes += 1


class Oversight:
    def __init__(self, site: Site) -> None:
        self._site = site

    # -- the chain ------------------------------------------------------------------------------
    def verify(self, principal: Principal) -> ChainReport:
        """Walk the audit chain; names the first edited, deleted, inserted or moved entry."""
        with self._site.act(
            principal, AuditAction.AUDIT_VERIFY, "audit_log", permission=Permission.AUDIT_VERIFY
        ) as act:
            report = act.audit_log.verify()
            act.record(
                details={
                    "intact": int(report.ok),
                    "entries": report.entries_checked,
                    "broken_at": report.broken_at or 0,
                }
            )
            return report

    def log(
        self,
        principal: Principal,
        *,
        actor: str | None = None,
        action: str | None = None,
        watchlist: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> AuditPage:
        """Read audit entries (oldest first, paged); reading is itself audited."""
        with self._site.act(
            principal, AuditAction.AUDIT_READ, "audit_log", permission=Permission.AUDIT_READ
        ) as act:
            page = act.audit_log.query(
                actor=actor,
                action=action,
                watchlist=watchlist,
                since=since,
                until=until,
                after_seq=after_seq,
                limit=limit,
            )
            act.record(details={"entries": len(page.records)})
            return page

    def _outside_home(self, path: Path, what: str) -> Path:
        resolved = Path(path).expanduser().resolve()
        if resolved.is_relative_to(self._site.settings.home.expanduser().resolve()):
            raise ConfigError(
                f"the {what} must live outside the data directory: whoever can rewrite the log "
                "must not be able to re-sign it"
            )
        return resolved

    def keygen(self, principal: Principal, private_path: Path) -> Path:
        """Create a checkpoint signing key pair outside the data directory; returns the .pub."""
        with self._site.act(
            principal,
            "audit.keygen",
            "signing_key",
            permission=Permission.AUDIT_VERIFY,
        ) as act:
            path = self._outside_home(private_path, "signing key")
            generate_signing_key(path, data_dir=self._site.settings.home)
            act.record(details={"key": path.name})
            return path.with_name(path.name + ".pub")

    def export_checkpoint(self, principal: Principal, private_key: Path) -> Checkpoint:
        """Sign the current head of the log; keep the result away from the data."""
        key = load_private_key(self._outside_home(private_key, "signing key"))
        with self._site.act(
            principal,
            AuditAction.AUDIT_CHECKPOINT,
            "audit_log",
            permission=Permission.AUDIT_VERIFY,
        ) as act:
            checkpoint = act.audit_log.export_checkpoint(key, now=act.at)
            act.record(details={"seq": checkpoint.seq, "head_hash": checkpoint.head_hash})
            return checkpoint

    def verify_checkpoint(
        self, principal: Principal, checkpoint_json: str, public_key: Path
    ) -> CheckpointReport:
        """Check the log still holds the signed head (catches a full rewrite of the log)."""
        if not isinstance(checkpoint_json, str):
            raise InvalidInputError("checkpoint must be JSON text")
        checkpoint = Checkpoint.from_json(checkpoint_json)
        key = load_public_key(public_key)
        with self._site.act(
            principal,
            AuditAction.AUDIT_VERIFY,
            f"checkpoint:{checkpoint.seq}",
            permission=Permission.AUDIT_VERIFY,
        ) as act:
            report = act.audit_log.verify_against_checkpoint(checkpoint, key)
            act.record(details={"status": report.status.value, "seq": checkpoint.seq})
            return report

    # -- transparency ---------------------------------------------------------------------------
    def report(self, principal: Principal, since: datetime, until: datetime) -> TransparencyReport:
        """Activity in ``[since, until)`` from the audit log, totals and per watchlist."""
        for moment in (since, until):
            if not isinstance(moment, datetime) or moment.tzinfo is None:
                raise InvalidInputError("report period needs timezone-aware dates")
        if until <= since:
            raise InvalidInputError("the report period must end after it starts")
        with self._site.act(
            principal, "report.read", "transparency_report", permission=Permission.REPORTS_READ
        ) as act:
            chain = act.audit_log.verify()
            report = TransparencyReport(
                since, until, chain.ok, chain.summary(), self._site.four_eyes()
            )
            after = 0
            while True:
                page = act.audit_log.query(since=since, until=until, after_seq=after, limit=_PAGE)
                for record in page.records:
                    _tally(report, record)
                if page.next_after_seq is None:
                    break
                after = page.next_after_seq
            act.record(
                details={
                    "from": since.isoformat(),
                    "to": until.isoformat(),
                    "searches": report.searches,
                }
            )
            return report
