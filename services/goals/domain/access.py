"""Who may do what: roles, principals and API tokens (stored only as hashes)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from services.goals.domain.errors import Forbidden, InvalidInput

TOKEN_PREFIX = "okr_"


class Role(StrEnum):
    ADMIN = "admin"  # the executive sponsor: everything, including collective targets and tokens
    HEAD = "head"  # one department's head: writes only that department's goals
    VIEWER = "viewer"  # read only


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    name: str
    role: Role
    department: str | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require_admin(self, action: str) -> None:
        if not self.is_admin:
            raise Forbidden(f"only an admin may {action}")

    def require_department_writer(self, department: str, action: str) -> None:
        if self.is_admin:
            return
        if self.role is Role.HEAD and self.department == department:
            return
        raise Forbidden(f"{self.role.value} {self.name!r} may not {action} of department "
                        f"{department!r}")


def hash_token(secret: str) -> str:
    """Tokens carry 256 random bits, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass
class ApiToken:
    name: str
    role: Role
    department: str | None
    token_hash: str
    created_by: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    revoked_at: datetime | None = None

    @classmethod
    def mint(cls, name: str, role: Role, department: str | None, created_by: str
             ) -> tuple[ApiToken, str]:
        """A new token and its secret; the secret is shown once and never stored."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput("must be 1 to 100 characters", "name")
        if role is Role.HEAD and not department:
            raise InvalidInput("a head token must name its department", "department")
        if role is not Role.HEAD and department:
            raise InvalidInput("only a head token is bound to a department", "department")
        secret = new_token_secret()
        return cls(name=name, role=role, department=department, token_hash=hash_token(secret),
                   created_by=created_by), secret

    def principal(self) -> Principal:
        return Principal(name=self.name, role=self.role, department=self.department,
                         token_id=self.id)

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = datetime.now(UTC)
