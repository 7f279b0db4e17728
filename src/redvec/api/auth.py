"""API keys: hashed at rest, scoped (read, write), optionally bound to one tenant.

A key file (or ``REDVEC_API_KEYS``) holds only SHA-256 digests, so a leaked file
reveals no key; ``redvec apikey create`` makes a key, prints it once and appends its
digest. Keys are long random tokens, so a plain digest (no salt, no slow KDF) is
enough: there is nothing to brute-force.

File format (JSON)::

    {"keys": [{"id": "ci", "sha256": "<hex>", "scopes": ["read", "write"],
               "tenant": "acme"}]}
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redvec.errors import ConfigError
from redvec.tenants import TENANT_RE, tenant_of

__all__ = ["SCOPES", "ApiKey", "KeyRing", "digest", "new_key", "parse_key"]

# "metrics" reads /metrics and the per-index detail of /readyz, which name every index of
# every tenant: a key bound to a tenant cannot hold it.
SCOPES = ("read", "write", "metrics")


def digest(key: str) -> str:
    """The SHA-256 hex digest of an API key: what a key file stores instead of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A new random API key (``rv_`` and 256 random bits, URL-safe), shown once, never stored."""
    return "rv_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    """One API key as the service knows it: its id, digest, scopes and the tenant it is bound
    to (None: every tenant)."""

    id: str
    sha256: str
    scopes: frozenset[str]
    tenant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The key file's entry for this key (digest only, never the key)."""
        out: dict[str, Any] = {"id": self.id, "sha256": self.sha256, "scopes": sorted(self.scopes)}
        if self.tenant:
            out["tenant"] = self.tenant
        return out

    def sees(self, index: str) -> bool:
        """An unbound key sees every index; a bound one only its tenant's."""
        return self.tenant is None or tenant_of(index) == self.tenant


@dataclass
class KeyRing:
    """The API keys the service accepts, by digest (a presented key is hashed and looked up)."""

    keys: dict[str, ApiKey] = field(default_factory=dict)  # by digest

    @classmethod
    def from_json(cls, text: str, where: str) -> KeyRing:
        """Keys from the key file's JSON; :class:`ConfigError` names ``where`` and the bad entry."""
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{where}: not valid JSON: {e}") from None
        entries = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ConfigError(f'{where}: expected {{"keys": [...]}}')
        ring = cls()
        for n, entry in enumerate(entries):
            ring.add(parse_key(entry, f"{where}: key #{n + 1}"))
        return ring

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """Keys from a key file; :class:`ConfigError` for a missing, unreadable or invalid file."""
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"cannot read API key file {path}: {e.strerror}") from None
        return cls.from_json(text, str(path))

    def add(self, key: ApiKey) -> None:
        """Add a key; an id already used is refused (:class:`ConfigError`)."""
        if any(k.id == key.id for k in self.keys.values()):
            raise ConfigError(f"API key id '{key.id}' is used twice")
        self.keys[key.sha256] = key

    def lookup(self, presented: str) -> ApiKey | None:
        """The key whose digest matches ``presented``, or None."""
        return self.keys.get(digest(presented))

    def to_json(self) -> str:
        """The key file's JSON (digests only)."""
        return json.dumps({"keys": [k.to_dict() for k in self.keys.values()]}, indent=2) + "\n"


def parse_key(entry: Any, where: str) -> ApiKey:
    """One key file entry checked (id, sha256, scopes, tenant); :class:`ConfigError` names
    ``where`` and what is wrong."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected an object")
    unknown = set(entry) - {"id", "sha256", "scopes", "tenant"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    key_id, sha, scopes, tenant = (
        entry.get("id"),
        entry.get("sha256"),
        entry.get("scopes"),
        entry.get("tenant"),
    )
    if not isinstance(key_id, str) or not key_id:
        raise ConfigError(f"{where}: 'id' must be a non-empty string")
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ConfigError(f"{where} ('{key_id}'): 'sha256' must be 64 lowercase hex digits")
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= set(SCOPES):
        raise ConfigError(f"{where} ('{key_id}'): 'scopes' must be a non-empty subset of {SCOPES}")
    if tenant is not None and not (isinstance(tenant, str) and TENANT_RE.match(tenant)):
        raise ConfigError(
            f"{where} ('{key_id}'): 'tenant' must be 1-64 letters, digits, '_', '.' or '-'"
        )
    if tenant is not None and "metrics" in scopes:
        raise ConfigError(
            f"{where} ('{key_id}'): a key bound to tenant '{tenant}' cannot have the "
            f"'metrics' scope (metrics name every tenant's indexes)"
        )
    return ApiKey(key_id, sha, frozenset(scopes), tenant)
