"""Accountability commands: init, users, tokens, settings, watchlists, approvals, review, audit,
purge, erase, report. Registered on the main app when ``watchkeeper.cli.main`` is imported."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from watchkeeper.cli.main import (
    app,
    as_dict,
    done,
    engine,
    principal,
    run,
    state,
)
from watchkeeper.cli.output import fail, out_console
from watchkeeper.core.errors import InvalidInputError

if TYPE_CHECKING:
    from watchkeeper.service.engine import Engine

user_app = typer.Typer(help="Accounts (admins): add, list, disable.")
token_app = typer.Typer(help="API tokens: issue (shown once) and revoke.")
settings_app = typer.Typer(help="Site settings that are decisions, each one audited.")
watchlist_app = typer.Typer(help="Watchlists: the only way to run 1:N.")
approval_app = typer.Typer(help="Four-eyes approvals of watchlist changes.")
review_app = typer.Typer(help="Human review of candidate matches.")
audit_app = typer.Typer(help="The audit log: verify, read, signed checkpoints.")
checkpoint_app = typer.Typer(help="Signed checkpoints of the audit log (Ed25519).")
key_app = typer.Typer(help="The site key that encrypts templates at rest.")
for sub, name in [
    (user_app, "user"),
    (token_app, "token"),
    (settings_app, "settings"),
    (watchlist_app, "watchlist"),
    (approval_app, "approval"),
    (review_app, "review"),
    (audit_app, "audit"),
    (key_app, "key"),
]:
    app.add_typer(sub, name=name)
audit_app.add_typer(checkpoint_app, name="checkpoint")

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]


def _date(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{what} must be a date like 2026-05-01 or 2026-05-01T12:00, got {text[:40]!r}", 2)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _expiry(wk: Engine, days: int | None, until: str | None) -> datetime:
    if until is not None and days is None:
        return _date(until, "--until")
    if until is not None or days is None or days < 1:
        fail("give either --days (at least 1) or --until", 2)
        raise AssertionError  # pragma: no cover - fail() exits
    return wk.site.now() + timedelta(days=days)


def _token_text(token: Any) -> str:
    return (
        f"API token (shown once, store it safely): {token.plaintext}\n"
        f"Token id {token.token_id}, expires {token.expires_at:%Y-%m-%d}. "
        "Use it with --token or WATCHKEEPER_TOKEN."
    )


def _token_json(token: Any) -> dict[str, Any]:
    return {
        "token": token.plaintext,
        "token_id": token.token_id,
        "user_id": token.user_id,
        "expires_at": token.expires_at.isoformat(),
    }


# -- site and accounts ----------------------------------------------------------------------------


@app.command()
def init(
    user: Annotated[str, typer.Option("--user", help="Name of the first account.")] = "admin",
    home_use: Annotated[
        bool,
        typer.Option(
            "--home-use",
            help="One person runs this site: give them every role and switch four-eyes "
            "approval off (an audited settings change, shown in every report).",
        ),
    ] = False,
) -> None:
    """Set up a site: the first administrator and their one-time API token."""
    wk = engine()
    account = run(lambda: wk.accounts.initialise(user, home_use=home_use))
    wk.close()
    roles = account.principal.role_names
    note = "\nHome use: four-eyes approval is OFF (recorded in the audit log)." if home_use else ""
    done(
        _token_json(account.token) | {"user": user, "roles": roles, "home_use": home_use},
        f"Site initialised in {state.settings.home}. User '{user}' ({roles}).{note}\n"
        + _token_text(account.token),
    )


@app.command()
def login(
    user: Annotated[str, typer.Argument(help="Your username.")],
    days: Annotated[int, typer.Option(help="Token lifetime in days.")] = 1,
) -> None:
    """Exchange your password for a short-lived API token."""
    password = getpass.getpass("Password: ")
    wk = engine()
    token = run(lambda: wk.accounts.login(user, password, days))
    done(_token_json(token), _token_text(token))


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role", help="admin, operator, investigator, reviewer or auditor (repeatable)."
        ),
    ],
    with_password: Annotated[
        bool, typer.Option("--with-password", help="Also set a password (prompted).")
    ] = False,
    days: Annotated[int, typer.Option(help="First token's lifetime in days.")] = 90,
) -> None:
    """Add a user with roles; prints their first API token once."""
    password = getpass.getpass("Password for the new user: ") if with_password else None
    wk = engine()
    me = principal(wk)
    account = run(lambda: wk.accounts.add_user(me, username, role, password, days))
    done(
        _token_json(account.token) | {"user": username, "roles": account.principal.role_names},
        f"Added '{username}' ({account.principal.role_names}).\n" + _token_text(account.token),
    )


@user_app.command("list")
def user_list() -> None:
    """List users and their roles."""
    wk = engine()
    me = principal(wk)
    users = run(lambda: wk.accounts.list_users(me))
    done(
        [as_dict(u) for u in users],
        "\n".join(
            f"{u.username}: {', '.join(u.roles)}"
            + (" (disabled)" if u.disabled_at else "")
            + ("" if u.has_password else " (token only)")
            for u in users
        ),
    )


@user_app.command("disable")
def user_disable(username: str, reason: ReasonOpt = "") -> None:
    """Disable a user and revoke all their tokens."""
    wk = engine()
    me = principal(wk)
    revoked = run(lambda: wk.accounts.disable_user(me, username, reason))
    done(
        {"disabled": username, "tokens_revoked": revoked},
        f"Disabled '{username}'; {revoked} token(s) revoked.",
    )


@token_app.command("issue")
def token_issue(
    user: Annotated[
        str | None, typer.Option("--user", help="For another user (admins only).")
    ] = None,
    days: Annotated[int, typer.Option(help="Lifetime in days (at most 365).")] = 90,
    label: Annotated[str, typer.Option(help="A note to tell tokens apart.")] = "",
) -> None:
    """Issue a new API token (shown once)."""
    wk = engine()
    me = principal(wk)
    token = run(lambda: wk.accounts.issue_token(me, user, days, label))
    done(_token_json(token), _token_text(token))


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token at once."""
    wk = engine()
    me = principal(wk)
    run(lambda: wk.accounts.revoke_token(me, token_id))
    done({"revoked": token_id}, f"Revoked token {token_id}.")


@settings_app.command("four-eyes")
def settings_four_eyes(
    value: Annotated[str, typer.Argument(help="on or off")],
    reason: ReasonOpt = "",
) -> None:
    """Switch four-eyes approval on or off (audited, shown in transparency reports)."""
    if value not in ("on", "off"):
        fail("four-eyes is 'on' or 'off'", 2)
    wk = engine()
    me = principal(wk)
    run(lambda: wk.accounts.set_four_eyes(me, value == "on", reason))
    done({"four_eyes": value}, f"Four-eyes approval is now {value.upper()}.")


# -- watchlists and approvals ---------------------------------------------------------------------


def _watchlist_json(info: Any) -> dict[str, Any]:
    r = info.record
    return {
        "watchlist": r.name,
        "state": info.state,
        "people": info.people,
        "purpose": r.purpose,
        "legal_basis": r.legal_basis,
        "owner": r.owner,
        "created_at": r.created_at.isoformat(),
        "expires_at": r.expires_at.isoformat() if r.expires_at else None,
        "match_retention_days": r.match_retention_days,
        "max_people": r.max_identities,
        "pending_approval": info.pending_approval,
    }


def _change_text(change: Any, verb: str) -> str:
    if change.applied:
        return f"Watchlist '{change.watchlist}' {verb}."
    return (
        f"Watchlist '{change.watchlist}': request {change.approval_id} waits for a second "
        "person's approval (`watchkeeper approval approve ID`)."
    )


@watchlist_app.command("create")
def watchlist_create(
    name: Annotated[str, typer.Argument(help="Short name.")],
    purpose: Annotated[str, typer.Option(help="What the watchlist is for.")] = "",
    legal_basis: Annotated[
        str, typer.Option("--legal-basis", help="Law, authorisation or reference that allows it.")
    ] = "",
    days: Annotated[int | None, typer.Option(help="Expires after this many days.")] = None,
    until: Annotated[str | None, typer.Option(help="Expires at this date (UTC).")] = None,
    match_retention_days: Annotated[
        float | None, typer.Option(help="Keep match records this many days.")
    ] = None,
    max_people: Annotated[
        int | None, typer.Option(help="Most people it may hold (widening needs approval).")
    ] = None,
) -> None:
    """Create a watchlist with a purpose, legal basis and expiry (needs approval by default)."""
    from watchkeeper.gallery.watchlist import WatchlistTerms

    wk = engine()
    me = principal(wk)
    expiry = _expiry(wk, days, until)
    terms = WatchlistTerms(purpose, legal_basis, expiry, match_retention_days, max_people)
    change = run(lambda: wk.watchlists.create(me, name, terms))
    done(as_dict(change), _change_text(change, f"created, active until {expiry:%Y-%m-%d}"))


@watchlist_app.command("list")
def watchlist_list() -> None:
    """Watchlists with their state (active, pending, expired, revoked) and size."""
    wk = engine()
    me = principal(wk)
    infos = run(lambda: wk.watchlists.list(me))
    done(
        [_watchlist_json(i) for i in infos],
        "\n".join(
            f"{i.record.name}: {i.state}, {i.people} people"
            + (f", until {i.record.expires_at:%Y-%m-%d}" if i.record.expires_at else "")
            + (f" - {i.record.purpose}" if i.record.purpose else "")
            for i in infos
        )
        or "No watchlists yet.",
    )


@watchlist_app.command("show")
def watchlist_show(name: str) -> None:
    """A watchlist's terms and state."""
    wk = engine()
    me = principal(wk)
    info = run(lambda: wk.watchlists.show(me, name))
    data = _watchlist_json(info)
    done(data, "\n".join(f"{k}: {v}" for k, v in data.items()))


@watchlist_app.command("extend")
def watchlist_extend(
    name: str,
    days: Annotated[int | None, typer.Option(help="New expiry: days from now.")] = None,
    until: Annotated[str | None, typer.Option(help="New expiry date (UTC).")] = None,
    reason: ReasonOpt = "",
) -> None:
    """Move a watchlist's expiry (later needs approval under four-eyes)."""
    wk = engine()
    me = principal(wk)
    expiry = _expiry(wk, days, until)
    change = run(lambda: wk.watchlists.extend(me, name, expiry, reason))
    done(as_dict(change), _change_text(change, f"now runs until {expiry:%Y-%m-%d}"))


@watchlist_app.command("widen")
def watchlist_widen(
    name: str,
    max_people: Annotated[int, typer.Option(help="New largest number of people.")],
    reason: ReasonOpt = "",
) -> None:
    """Change how many people a watchlist may hold (more needs approval under four-eyes)."""
    wk = engine()
    me = principal(wk)
    change = run(lambda: wk.watchlists.widen(me, name, max_people, reason))
    done(as_dict(change), _change_text(change, f"may now hold {max_people} people"))


@watchlist_app.command("revoke")
def watchlist_revoke(name: str, reason: ReasonOpt = "") -> None:
    """End a watchlist now; it matches nothing from this moment."""
    wk = engine()
    me = principal(wk)
    change = run(lambda: wk.watchlists.revoke(me, name, reason))
    done(as_dict(change), f"Watchlist '{name}' revoked; it matches nothing from now on.")


def _approval_json(a: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in as_dict(a).items()}


@approval_app.command("list")
def approval_list() -> None:
    """Open approval requests."""
    wk = engine()
    me = principal(wk)
    pending = run(lambda: wk.watchlists.pending_approvals(me))
    done(
        [_approval_json(a) for a in pending],
        "\n".join(
            f"{a.request_id}  {a.kind.value}  by {a.requester_name}: {a.summary}" for a in pending
        )
        or "No open requests.",
    )


@approval_app.command("approve")
def approval_approve(request_id: str, reason: ReasonOpt = "") -> None:
    """Approve a request (not your own) and apply the change it asks for."""
    wk = engine()
    me = principal(wk)
    decided = run(lambda: wk.watchlists.approve(me, request_id, reason))
    done(_approval_json(decided), f"Approved {request_id}: {decided.summary}")


@approval_app.command("reject")
def approval_reject(request_id: str, reason: ReasonOpt = "") -> None:
    """Reject a request, saying why."""
    wk = engine()
    me = principal(wk)
    decided = run(lambda: wk.watchlists.reject(me, request_id, reason))
    done(_approval_json(decided), f"Rejected {request_id}.")


# -- review ---------------------------------------------------------------------------------------


def _candidate_json(c: Any) -> dict[str, Any]:
    return _approval_json(c)


@review_app.command("list")
def review_list(
    status: Annotated[
        str, typer.Option(help="pending, confirmed (alerts), rejected or all.")
    ] = "pending",
    watchlist: Annotated[str | None, typer.Option(help="Only this watchlist.")] = None,
) -> None:
    """Candidate matches waiting for review (or the decided ones)."""
    from watchkeeper.governance.review import ReviewStatus

    if status not in ("all", *(s.value for s in ReviewStatus)):
        fail("status is pending, confirmed, rejected or all", 2)
    wk = engine()
    me = principal(wk)
    wanted = None if status == "all" else ReviewStatus(status)
    found = run(lambda: wk.review.list(me, wanted, watchlist))
    done(
        [_candidate_json(c) for c in found],
        "\n".join(
            f"{c.candidate_id}  {c.watchlist}: {c.display_name} (similarity {c.similarity:.3f}"
            f" >= {c.threshold:.3f}), {c.status.value}, searched by {c.searched_by}"
            for c in found
        )
        or f"No {status} candidates.",
    )


@review_app.command("show")
def review_show(
    candidate_id: str,
    out: Annotated[
        Path | None, typer.Option(help="Write the probe and enrolled faces side by side (PNG).")
    ] = None,
) -> None:
    """One candidate: who, how close, and (with --out) both faces side by side."""
    from watchkeeper.service.crops import side_by_side_png

    wk = engine()
    me = principal(wk)
    view = run(lambda: wk.review.show(me, candidate_id))
    if out is not None:
        out.write_bytes(side_by_side_png(view.probe_jpeg, view.enrolled_jpeg))
    c = view.candidate
    done(
        _candidate_json(c) | {"image": str(out) if out else None},
        f"{c.candidate_id}: probe {c.probe_source} vs {c.display_name} in {c.watchlist} "
        f"(similarity {c.similarity:.3f}, threshold {c.threshold:.3f}), {c.status.value}; "
        f"searched by {c.searched_by} for: {c.purpose}"
        + (f"\nFaces side by side (probe left, enrolled right): {out}" if out else ""),
    )


def _decide(candidate_id: str, confirm: bool, note: str) -> None:
    wk = engine()
    me = principal(wk)
    c = run(lambda: wk.review.decide(me, candidate_id, confirm, note))
    done(
        _candidate_json(c),
        f"{candidate_id} {c.status.value}"
        + (": this is now an alert." if confirm else ": recorded as a false match."),
    )


@review_app.command("confirm")
def review_confirm(candidate_id: str, note: Annotated[str, typer.Option(help="Why.")] = "") -> None:
    """Confirm a candidate: it becomes an alert."""
    _decide(candidate_id, True, note)


@review_app.command("reject")
def review_reject(candidate_id: str, note: Annotated[str, typer.Option(help="Why.")] = "") -> None:
    """Reject a candidate: a false match, counted in the measured false-match rate."""
    _decide(candidate_id, False, note)


@review_app.command("stats")
def review_stats() -> None:
    """Per watchlist: pending, confirmed, rejected and the measured false-match rate."""
    wk = engine()
    me = principal(wk)
    counts = run(lambda: wk.review.counts(me))
    done(
        [as_dict(c) | {"measured_fmr": c.measured_fmr} for c in counts],
        "\n".join(
            f"{c.watchlist}: {c.pending} pending, {c.confirmed} confirmed, {c.rejected} "
            "rejected, measured false-match rate "
            + ("n/a" if c.measured_fmr is None else f"{c.measured_fmr:.1%}")
            for c in counts
        )
        or "No candidates yet.",
    )


# -- audit ----------------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole hash chain; names the first edited, deleted, inserted or moved entry."""
    wk = engine()
    me = principal(wk)
    report = run(lambda: wk.oversight.verify(me))
    done(
        {
            "ok": report.ok,
            "entries_checked": report.entries_checked,
            "head_seq": report.head_seq,
            "broken_at": report.broken_at,
            "kind": report.kind.value if report.kind else None,
            "detail": report.detail,
        },
        report.summary(),
        0 if report.ok else 1,
    )


@audit_app.command("log")
def audit_log(
    actor: Annotated[str | None, typer.Option(help="Only this user.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. search.identify.")
    ] = None,
    watchlist: Annotated[str | None, typer.Option(help="Only this watchlist.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="From this date (UTC).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Before this date (UTC).")] = None,
    after: Annotated[int, typer.Option(help="Entries after this seq (paging).")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 100,
) -> None:
    """Read the audit log, oldest first."""
    wk = engine()
    me = principal(wk)
    page = run(
        lambda: wk.oversight.log(
            me,
            actor=actor,
            action=action,
            watchlist=watchlist,
            since=None if since is None else _date(since, "--from"),
            until=None if until is None else _date(until, "--to"),
            after_seq=after,
            limit=limit,
        )
    )
    rows = [
        {
            "seq": r.seq,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "role": r.role,
            "action": r.action,
            "target": r.target,
            "watchlist": r.watchlist,
            "purpose": r.purpose,
            "outcome": r.outcome.value,
            "details": dict(r.details),
        }
        for r in page.records
    ]
    done(
        {"entries": rows, "next_after": page.next_after_seq},
        "\n".join(
            f"{r.seq:>6} {r.at:%Y-%m-%d %H:%M:%S} {r.actor} ({r.role}) {r.action} {r.target}"
            + (f" [{r.watchlist}]" if r.watchlist else "")
            + f" {r.outcome.value}: {r.purpose}"
            for r in page.records
        )
        + (f"\n(more: --after {page.next_after_seq})" if page.next_after_seq else ""),
    )


@audit_app.command("keygen")
def audit_keygen(
    path: Annotated[Path, typer.Argument(help="Private key file, outside the data directory.")],
) -> None:
    """Create an Ed25519 key pair for signing checkpoints (PATH and PATH.pub)."""
    wk = engine()
    me = principal(wk)
    public = run(lambda: wk.oversight.keygen(me, path))
    done({"private_key": str(path), "public_key": str(public)}, f"Wrote {path} and {public}.")


@checkpoint_app.command("export")
def checkpoint_export(
    key: Annotated[Path, typer.Option(help="Private signing key (outside the data directory).")],
    out: Annotated[Path | None, typer.Option(help="Write the checkpoint here.")] = None,
) -> None:
    """Sign the current head of the audit log; keep the file away from the data."""
    wk = engine()
    me = principal(wk)
    checkpoint = run(lambda: wk.oversight.export_checkpoint(me, key))
    text = checkpoint.to_json()
    if out is not None:
        out.write_text(text + "\n")
    if state.json or out is None:
        out_console.print(text, markup=False)
        raise typer.Exit(0)
    done({}, f"Checkpoint of entry {checkpoint.seq} written to {out}.")


@checkpoint_app.command("verify")
def checkpoint_verify(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint file from `export`.")],
    public_key: Annotated[Path, typer.Option("--public-key", help="The signer's public key.")],
) -> None:
    """Check the log still holds the signed head: catches even a full rewrite."""
    try:
        text = checkpoint.read_text()
    except OSError as exc:
        fail(f"cannot read {checkpoint}: {exc.strerror}", 2)
    wk = engine()
    me = principal(wk)
    report = run(lambda: wk.oversight.verify_checkpoint(me, text, public_key))
    done(
        {"status": report.status.value, "detail": report.detail},
        f"checkpoint {report.status.value}: {report.detail}",
        0 if report.ok else 1,
    )


# -- retention, erasure, report -------------------------------------------------------------------


@app.command()
def purge() -> None:
    """Delete everything past its retention period now (also runs on a schedule)."""
    wk = engine()
    me = principal(wk)
    report = run(lambda: wk.retention.purge(me))
    counts = {kind.value: n for kind, n in report.removed.items()}
    done(
        counts,
        "Purged: " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items()) + ".",
    )


@app.command()
def erase(
    person: Annotated[str, typer.Argument(help="Name (every watchlist) or identity id.")],
    reason: ReasonOpt = "",
    receipt: Annotated[Path | None, typer.Option(help="Write the receipt (JSON) here.")] = None,
) -> None:
    """Erase a person everywhere: templates, crops, index entries, review entries. Gives a
    receipt."""
    wk = engine()
    me = principal(wk)
    done_receipt = run(lambda: wk.erasure.erase_person(me, person, reason))
    text = done_receipt.to_json()
    if receipt is not None:
        receipt.write_text(text + "\n")
    r = done_receipt
    done(
        {**r.body(), "digest": r.digest},
        f"Erased {person}: {len(r.identities)} identities in {', '.join(r.watchlists)}, "
        f"{r.templates} templates, {r.face_crops} face crops, {r.index_entries} index entries, "
        f"{r.review_candidates} review entries. Receipt {r.receipt_id} (sha256 {r.digest})."
        + (f" Written to {receipt}." if receipt else ""),
    )


@app.command()
def report(
    since: Annotated[str, typer.Option("--from", help="Start date (UTC), e.g. 2026-01-01.")],
    until: Annotated[str, typer.Option("--to", help="End date (UTC, exclusive).")],
    chart: Annotated[Path | None, typer.Option(help="Also write a bar chart (PNG).")] = None,
) -> None:
    """Transparency report for a period, from the audit log: text, --json, --chart."""
    start, end = _date(since, "--from"), _date(until, "--to")
    wk = engine()
    me = principal(wk)
    result = run(lambda: wk.oversight.report(me, start, end))
    if chart is not None:
        chart.write_bytes(result.chart_png())
    done(result.to_dict(), result.to_text() + (f"\nChart: {chart}" if chart else ""))


@key_app.command("new")
def key_new(
    path: Annotated[Path, typer.Argument(help="Key file to create (outside the data directory).")],
) -> None:
    """Create a site key for encrypting templates at rest (mode 600)."""
    import os

    from watchkeeper.store.cipher import new_key_text

    home = state.settings.home.expanduser().resolve()
    if path.expanduser().resolve().is_relative_to(home):
        fail("keep the template key outside the data directory", InvalidInputError.exit_code)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        fail(f"cannot create {path}: {exc.strerror}", 2)
    with os.fdopen(fd, "w") as handle:
        handle.write(new_key_text() + "\n")
    done(
        {"key_file": str(path)},
        f"Wrote {path}. Set governance.template_key_file to it, or put its content in "
        "WATCHKEEPER_TEMPLATE_KEY; keep a backup: without it the templates cannot be read.",
    )
