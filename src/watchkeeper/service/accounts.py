"""Users, roles and API tokens as governed use-cases, and the first start of a site.

A site starts with ``initialise``: it creates the first administrator (or, for home use, one
person holding every role, with four-eyes approval switched off through the audited setting)
and returns a one-time API token. Afterwards every account change needs ``users.manage`` and is
audited. Tokens are shown once and stored only as digests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from watchkeeper.core.errors import InvalidInputError, PermissionDeniedError
from watchkeeper.governance.approvals import FourEyesSetting
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import (
    IssuedToken,
    Permission,
    Principal,
    Role,
    UserInfo,
    parse_roles,
)
from watchkeeper.service.site import ANONYMOUS_ACTOR, Site

DEFAULT_TOKEN_DAYS = 90
HOME_USE_REASON = "home use: one person runs this site and answers for it"


@dataclass(frozen=True, slots=True)
class NewAccount:
    """A created user and their first token (its plaintext is shown once, here)."""

    principal: Principal
    token: IssuedToken


def _days(days: object) -> timedelta:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise InvalidInputError("token lifetime must be 1 to 365 days")
    return timedelta(days=days)


class Accounts:
    def __init__(self, site: Site) -> None:
        self._site = site

    # -- first start ---------------------------------------------------------------------------
    def is_initialised(self) -> bool:
        return bool(self._site.users().list_users())

    def initialise(
        self,
        username: str,
        *,
        home_use: bool = False,
        password: str | None = None,
        token_days: int = DEFAULT_TOKEN_DAYS,
    ) -> NewAccount:
        """Create the site's first user and a one-time token; refused once any user exists.

        ``home_use`` gives that one person every role and switches four-eyes approval off via
        the audited setting (with the reason in the log and in every transparency report).
        """
        roles = set(Role) if home_use else {Role.ADMIN}
        lifetime = _days(token_days)
        with self._site.act(None, AuditAction.USER_CREATE, f"user:{username}") as act:
            users = self._site.users()
            if users.list_users():
                raise PermissionDeniedError(
                    "this site is already initialised; an administrator adds further users"
                )
            principal = users.create_user(username, password, roles, now=act.at)
            act.principal = principal
            act.record(
                purpose="site initialisation" + (" for home use" if home_use else ""),
                details={"roles": principal.role_names},
            )
            token = self._site.tokens().issue(
                principal.user_id, act.at + lifetime, "initial", now=act.at
            )
            act.record(
                action=AuditAction.TOKEN_ISSUE,
                target=f"token:{token.token_id}",
                purpose="initial token",
                details={"user": principal.username},
            )
            if home_use:
                FourEyesSetting(act.conn).set(
                    False, principal, act.audit_log, HOME_USE_REASON, now=act.at
                )
            return NewAccount(principal, token)

    # -- signing in ----------------------------------------------------------------------------
    def authenticate(self, token: str) -> Principal:
        """The principal an API token stands for; a bad token is refused and audited."""
        try:
            return self._site.tokens().resolve(token, now=self._site.now())
        except PermissionDeniedError as exc:
            self._site.record_refusal(None, AuditAction.LOGIN, "token", exc, actor=ANONYMOUS_ACTOR)
            raise

    def login(
        self,
        username: str,
        password: str,
        token_days: int = 1,
        *,
        lifetime: timedelta | None = None,
        label: str = "login",
    ) -> IssuedToken:
        """Exchange a username and password for a short-lived token (audited either way).

        ``lifetime`` (at most a year) overrides ``token_days`` for sessions counted in hours.
        """
        if lifetime is None:
            lifetime = _days(token_days)
        elif not timedelta(0) < lifetime <= timedelta(days=365):
            raise InvalidInputError("token lifetime must be more than 0 and at most 365 days")
        try:
            principal = self._site.users().authenticate(username, password)
        except PermissionDeniedError as exc:
            self._site.record_refusal(None, AuditAction.LOGIN, "user", exc, actor=ANONYMOUS_ACTOR)
            raise
        with self._site.act(principal, AuditAction.LOGIN, f"user:{principal.username}") as act:
            token = self._site.tokens().issue(
                principal.user_id, act.at + lifetime, label, now=act.at
            )
            act.record(details={"token": token.token_id})
            return token

    # -- administration ------------------------------------------------------------------------
    def add_user(
        self,
        admin: Principal,
        username: str,
        roles: Iterable[object],
        password: str | None = None,
        token_days: int = DEFAULT_TOKEN_DAYS,
    ) -> NewAccount:
        """Create a user with the given roles and a first token (shown once)."""
        lifetime = _days(token_days)
        with self._site.act(
            admin, AuditAction.USER_CREATE, "user", permission=Permission.USERS_MANAGE
        ) as act:
            granted = parse_roles(roles)
            principal = self._site.users().create_user(username, password, granted, now=act.at)
            act.record(
                target=f"user:{principal.username}",
                purpose="account created",
                details={"roles": principal.role_names},
            )
            token = self._site.tokens().issue(
                principal.user_id, act.at + lifetime, "first", now=act.at
            )
            act.record(
                action=AuditAction.TOKEN_ISSUE,
                target=f"token:{token.token_id}",
                purpose="first token",
                details={"user": principal.username},
            )
            return NewAccount(principal, token)

    def list_users(self, admin: Principal) -> tuple[UserInfo, ...]:
        with self._site.act(admin, "user.list", "users", permission=Permission.USERS_MANAGE) as act:
            users = self._site.users().list_users()
            act.record(details={"users": len(users)})
            return users

    def disable_user(self, admin: Principal, username: str, reason: str) -> int:
        """Disable an account and revoke its tokens; the last enabled admin cannot go."""
        with self._site.act(
            admin,
            AuditAction.USER_DISABLE,
            f"user:{username}",
            permission=Permission.USERS_MANAGE,
            purpose=reason,
        ) as act:
            users = self._site.users()
            target = users.get(username)
            if Role.ADMIN in target.roles and users.count_enabled_with(Role.ADMIN) <= 1:
                raise InvalidInputError(
                    "this is the last enabled administrator; add another before disabling it"
                )
            users.disable(username, now=act.at)
            revoked = self._site.tokens().revoke_all(target.user_id, now=act.at)
            act.record(details={"tokens_revoked": revoked})
            return revoked

    def issue_token(
        self,
        principal: Principal,
        username: str | None = None,
        token_days: int = DEFAULT_TOKEN_DAYS,
        label: str = "",
    ) -> IssuedToken:
        """A new token for oneself, or (with ``users.manage``) for another user."""
        lifetime = _days(token_days)
        with self._site.act(principal, AuditAction.TOKEN_ISSUE, "token") as act:
            owner = principal
            if username is not None and username.lower() != principal.username.lower():
                if not principal.can(Permission.USERS_MANAGE):
                    raise PermissionDeniedError(
                        f"user {principal.username!r} may issue tokens only for themselves"
                    )
                owner = self._site.users().get(username)
            token = self._site.tokens().issue(owner.user_id, act.at + lifetime, label, now=act.at)
            act.record(target=f"token:{token.token_id}", details={"user": owner.username})
            return token

    def revoke_token(self, principal: Principal, token_id: str) -> None:
        """Revoke one of one's own tokens, or (with ``users.manage``) anyone's."""
        with self._site.act(principal, AuditAction.TOKEN_REVOKE, f"token:{token_id}") as act:
            tokens = self._site.tokens()
            owner = tokens.owner_of(token_id)
            if owner != principal.user_id and not principal.can(Permission.USERS_MANAGE):
                raise PermissionDeniedError("you may revoke only your own tokens")
            tokens.revoke(token_id, now=act.at)
            act.record(details={"user_id": owner})

    # -- settings ------------------------------------------------------------------------------
    def set_four_eyes(self, admin: Principal, enabled: bool, reason: str) -> None:
        """Switch four-eyes approval on or off; the change, its reason and author are audited."""
        with self._site.act(
            admin,
            AuditAction.SETTINGS_CHANGE,
            "setting:four_eyes",
            permission=Permission.SETTINGS_CHANGE,
            purpose=reason if isinstance(reason, str) else "",
        ) as act:
            # FourEyesSetting writes the settings.change record itself, in this transaction.
            FourEyesSetting(act.conn).set(enabled, admin, act.audit_log, reason, now=act.at)

    def four_eyes(self) -> bool:
        return self._site.four_eyes()
