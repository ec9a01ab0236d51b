"""Watchlists: the only way to run 1:N, each with a purpose, a legal basis, an owner and an end.

Creating, widening (a larger approved size) and extending (a later expiry) a watchlist need a
second person's approval while four-eyes is on: the request is stored with the exact change it
asks for, and an approver's decision applies that change in the same transaction. Narrowing
(revoking) never waits: a revoked watchlist matches nothing from that moment.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime

from watchkeeper.core import EmbeddingContract
from watchkeeper.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from watchkeeper.gallery.watchlist import (
    WatchlistTerms,
    apply_terms,
    check_expiry,
    inactive_reason,
    validate_limit,
    validate_terms,
    validate_watchlist_name,
)
from watchkeeper.governance.approvals import ApprovalBook, ApprovalKind, ApprovalRequest
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.policy import check_text, validate_free_text
from watchkeeper.service.site import Act, Site
from watchkeeper.store.records import GalleryRecord, WatchlistStatus

_MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class WatchlistInfo:
    """A watchlist as shown to people: its terms, whether it can be used now, and its size."""

    record: GalleryRecord
    active: bool
    state: str
    people: int
    pending_approval: str | None = None


@dataclass(frozen=True, slots=True)
class WatchlistChange:
    """The outcome of a change: applied at once, or waiting for ``approval_id``."""

    watchlist: str
    applied: bool
    approval_id: str | None = None


def _reason(reason: object) -> str:
    text = validate_free_text(reason, "reason", _MAX_REASON)
    check_text(text)
    return text


class Watchlists:
    def __init__(self, site: Site, contract: Callable[[], EmbeddingContract]) -> None:
        self._site = site
        self._contract = contract

    # -- reading -------------------------------------------------------------------------------
    def _info(self, record: GalleryRecord, now: datetime) -> WatchlistInfo:
        reason = inactive_reason(record, now)
        if reason is None:
            state = "active"
        elif record.status is WatchlistStatus.ACTIVE:
            state = "expired"
        else:
            state = record.status.value
        pending = self._site.conn.execute(
            "SELECT r.request_id FROM watchlist_requests r JOIN gov_approvals a"
            " ON a.request_id = r.request_id WHERE r.gallery_id = ? AND a.status IN"
            " ('pending', 'approved') ORDER BY r.created_at DESC LIMIT 1",
            (record.gallery_id,),
        ).fetchone()
        return WatchlistInfo(
            record,
            reason is None,
            state,
            self._site.store.count_identities(record.gallery_id),
            None if pending is None else str(pending[0]),
        )

    def list(self, principal: Principal) -> list[WatchlistInfo]:
        with self._site.act(
            principal, "watchlist.list", "watchlists", permission=Permission.WATCHLIST_VIEW
        ) as act:
            infos = [self._info(r, act.at) for r in self._site.store.list_galleries()]
            act.record(details={"watchlists": len(infos)})
            return infos

    def show(self, principal: Principal, name: str) -> WatchlistInfo:
        with self._site.act(
            principal,
            "watchlist.show",
            f"watchlist:{name}",
            permission=Permission.WATCHLIST_VIEW,
            watchlist=name,
        ) as act:
            info = self._info(self._site.catalog.get(name), act.at)
            act.record(details={"state": info.state})
            return info

    # -- changes -------------------------------------------------------------------------------
    def _request(
        self,
        act: Act,
        kind: ApprovalKind,
        record: GalleryRecord,
        summary: str,
        spec: dict[str, object],
    ) -> str:
        if act.principal is None:
            raise PermissionDeniedError("watchlist changes need a person to ask for them")
        book = ApprovalBook(act.conn, act.audit_log)
        request_id = book.request(kind, summary, act.principal, now=act.at)
        self._site.store.insert_request(act.conn, request_id, record.gallery_id, kind.value, spec)
        return request_id

    def create(self, principal: Principal, name: str, terms: WatchlistTerms) -> WatchlistChange:
        """Create a watchlist; active at once only when four-eyes is off."""
        with self._site.act(
            principal,
            AuditAction.WATCHLIST_CREATE,
            f"watchlist:{name}",
            permission=Permission.WATCHLIST_CREATE,
            watchlist=name if isinstance(name, str) else None,
            purpose=terms.purpose if isinstance(terms.purpose, str) else "",
        ) as act:
            name = validate_watchlist_name(name)
            validate_terms(terms, act.at, self._site.settings.governance.max_watchlist_days)
            if self._site.store.find_gallery(name) is not None:
                raise InvalidInputError(f"a watchlist named {name!r} already exists")
            four_eyes = self._site.four_eyes()
            from watchkeeper.store.sqlite import new_id

            record = apply_terms(
                GalleryRecord(
                    new_id("gal"),
                    name,
                    self._contract().contract_id,
                    act.at,
                    owner=principal.username,
                    status=WatchlistStatus.PENDING if four_eyes else WatchlistStatus.ACTIVE,
                ),
                terms,
            )
            self._site.store.insert_gallery(act.conn, record)
            approval = None
            if four_eyes:
                approval = self._request(
                    act,
                    ApprovalKind.WATCHLIST_CREATE,
                    record,
                    f"Create watchlist {name!r} until {terms.expires_at:%Y-%m-%d}: "
                    f"{terms.purpose} (basis: {terms.legal_basis}"
                    + (f"; up to {terms.max_identities} people" if terms.max_identities else "")
                    + ")",
                    {},
                )
            act.record(
                details={
                    "status": record.status.value,
                    "expires_at": terms.expires_at.isoformat(),
                    "legal_basis": terms.legal_basis[:200],
                    "four_eyes": "on" if four_eyes else "off",
                    **({"approval": approval} if approval else {}),
                }
            )
            return WatchlistChange(name, not four_eyes, approval)

    def extend(
        self, principal: Principal, name: str, expires_at: datetime, reason: str
    ) -> WatchlistChange:
        """Move the expiry later (needs approval under four-eyes) or earlier (applies at once)."""
        return self._change(
            principal, name, reason, ApprovalKind.WATCHLIST_EXTEND, expires_at=expires_at
        )

    def widen(
        self, principal: Principal, name: str, max_identities: int | None, reason: str
    ) -> WatchlistChange:
        """Raise (needs approval under four-eyes) or lower the most people the watchlist holds.

        ``None`` removes the limit, which is the widest of all.
        """
        return self._change(
            principal, name, reason, ApprovalKind.WATCHLIST_WIDEN, max_identities=max_identities
        )

    def _change_act(
        self, principal: Principal, name: str, reason: object
    ) -> AbstractContextManager[Act]:
        """The governed transaction every change to an existing watchlist runs in."""
        return self._site.act(
            principal,
            AuditAction.WATCHLIST_CHANGE,
            f"watchlist:{name}",
            permission=Permission.WATCHLIST_MANAGE,
            watchlist=name,
            purpose=reason if isinstance(reason, str) else "",
        )

    def _change(
        self,
        principal: Principal,
        name: str,
        reason: str,
        kind: ApprovalKind,
        *,
        expires_at: datetime | None = None,
        max_identities: int | None = None,
    ) -> WatchlistChange:
        with self._change_act(principal, name, reason) as act:
            reason = _reason(reason)
            record = self._site.catalog.get(name)
            if record.status is not WatchlistStatus.ACTIVE:
                raise InvalidInputError(
                    f"watchlist {name!r} is {record.status.value}; only an active watchlist "
                    "can be changed"
                )
            spec: dict[str, object]
            if kind is ApprovalKind.WATCHLIST_EXTEND:
                expiry = check_expiry(
                    expires_at, act.at, self._site.settings.governance.max_watchlist_days
                )
                widening = record.expires_at is None or expiry > record.expires_at
                spec = {"expires_at": expiry.isoformat()}
                summary = f"Extend watchlist {name!r} to {expiry:%Y-%m-%d}: {reason}"
            else:
                limit = validate_limit(max_identities)
                current = record.max_identities
                widening = current is not None and (limit is None or limit > current)
                spec = {"max_identities": limit}
                size = "no limit" if limit is None else f"{limit} people"
                summary = f"Widen watchlist {name!r} to {size}: {reason}"
            four_eyes = self._site.four_eyes()
            if widening and four_eyes:
                approval = self._request(act, kind, record, summary, spec)
                act.record(details={"change": kind.value, "approval": approval})
                return WatchlistChange(name, False, approval)
            self._apply(act, record, spec, kind, approval=None)
            return WatchlistChange(name, True, None)

    def _apply(
        self,
        act: Act,
        record: GalleryRecord,
        spec: dict[str, object],
        kind: ApprovalKind,
        approval: str | None,
    ) -> GalleryRecord:
        updated = record
        if kind is ApprovalKind.WATCHLIST_CREATE:
            updated = replace(record, status=WatchlistStatus.ACTIVE)
        elif kind is ApprovalKind.WATCHLIST_EXTEND:
            raw = spec.get("expires_at")
            if not isinstance(raw, str):
                raise InvalidInputError("the extension request has no expiry")
            expiry = datetime.fromisoformat(raw)
            check_expiry(expiry, act.at, self._site.settings.governance.max_watchlist_days)
            updated = replace(record, expires_at=expiry)
        elif kind is ApprovalKind.WATCHLIST_WIDEN:
            limit = spec.get("max_identities")
            updated = replace(record, max_identities=None if limit is None else int(str(limit)))
        self._site.store.update_gallery(act.conn, updated)
        act.record(
            action=AuditAction.WATCHLIST_CHANGE,
            target=f"watchlist:{record.name}",
            watchlist=record.name,
            details={
                "change": kind.value,
                "expires_at": updated.expires_at.isoformat() if updated.expires_at else "none",
                "max_identities": updated.max_identities or 0,
                **({"approval": approval} if approval else {}),
            },
        )
        return updated

    def revoke(self, principal: Principal, name: str, reason: str) -> WatchlistChange:
        """End a watchlist now: from this moment it matches nothing. No approval needed."""
        with self._change_act(principal, name, reason) as act:
            reason = _reason(reason)
            record = self._site.catalog.get(name)
            if record.status is WatchlistStatus.REVOKED:
                raise InvalidInputError(f"watchlist {name!r} is already revoked")
            self._site.store.update_gallery(
                act.conn, replace(record, status=WatchlistStatus.REVOKED, revoked_at=act.at)
            )
            act.after_commit.append(lambda: self._site.catalog.forget_index(record.gallery_id))
            act.record(details={"change": "revoke"})
            return WatchlistChange(name, True, None)

    # -- approvals -----------------------------------------------------------------------------
    def pending_approvals(self, principal: Principal) -> tuple[ApprovalRequest, ...]:
        """Open requests (for approvers, and for those who may ask)."""
        wanted = (Permission.APPROVALS_APPROVE, Permission.WATCHLIST_CREATE)
        permission = next((p for p in wanted if principal.can(p)), wanted[0])
        with self._site.act(principal, "approval.list", "approvals", permission=permission) as act:
            pending = self._site.approvals().pending()
            act.record(details={"pending": len(pending)})
            return pending

    def approve(self, approver: Principal, request_id: str, reason: str = "") -> ApprovalRequest:
        """Approve a request and apply the change it asked for, in one transaction."""
        with self._site.act(
            approver,
            AuditAction.APPROVAL_APPROVE,
            f"approval:{request_id}",
            permission=Permission.APPROVALS_APPROVE,
            purpose=reason if isinstance(reason, str) else "",
        ) as act:
            book = ApprovalBook(act.conn, act.audit_log)
            decided = book.approve(request_id, approver, reason, now=act.at)
            stored = self._site.store.get_request(request_id)
            if stored is not None:
                gallery_id, kind, spec = stored
                requester = self._site.users().principal(decided.requester_id)
                book.consume(request_id, ApprovalKind(kind), requester, now=act.at)
                record = self._site.store.get_gallery_by_id(gallery_id)
                self._apply(act, record, spec, ApprovalKind(kind), approval=request_id)
            return book.status(request_id)

    def reject(self, approver: Principal, request_id: str, reason: str) -> ApprovalRequest:
        """Reject a request; a watchlist that was waiting to be created is removed."""
        with self._site.act(
            approver,
            AuditAction.APPROVAL_REJECT,
            f"approval:{request_id}",
            permission=Permission.APPROVALS_APPROVE,
            purpose=reason if isinstance(reason, str) else "",
        ) as act:
            book = ApprovalBook(act.conn, act.audit_log)
            decided = book.reject(request_id, approver, reason, now=act.at)
            stored = self._site.store.get_request(request_id)
            if stored is not None and stored[1] == ApprovalKind.WATCHLIST_CREATE.value:
                try:
                    record = self._site.store.get_gallery_by_id(stored[0])
                except NotFoundError:
                    record = None
                if record is not None and record.status is WatchlistStatus.PENDING:
                    self._site.store.delete_gallery(record.gallery_id, act.conn)
            return decided
