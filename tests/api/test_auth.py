"""API keys over HTTP: scopes, tenants, the 401/403 shapes, and auth on by default
off loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

from redvec.api.auth import KeyRing, digest
from redvec.errors import ConfigError
from redvec.index import SearchIndex

from .conftest import RunningService
from .test_service import DIMS, corpus, schema

VEC = {"vector": [0.5] * DIMS, "k": 3}


@pytest.fixture()
def tenants(r: redis.Redis) -> None:
    for t in ("acme", "globex"):
        idx = SearchIndex.create(r, schema(f"idx:{{{t}}}:docs", f"doc:{{{t}}}:"))
        idx.upsert(corpus(20)[0])
        idx.wait_indexed()


def test_no_key_or_unknown_key_is_401(secured: RunningService, tenants: None) -> None:
    with httpx.Client(base_url=secured.url) as c:
        missing = c.post("/v1/indexes/idx:{acme}:docs/search", json=VEC)
        wrong = c.get("/v1/indexes", headers={"Authorization": "Bearer rv_not-a-key"})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "unknown API key"


def test_both_headers_work(secured: RunningService, tenants: None) -> None:
    key = secured.keys["reader"]
    with httpx.Client(base_url=secured.url) as c:
        bearer = c.get("/v1/indexes", headers={"Authorization": f"Bearer {key}"})
        x_api = c.get("/v1/indexes", headers={"X-API-Key": key})
    assert bearer.status_code == x_api.status_code == 200
    assert bearer.json()["indexes"] == ["idx:{acme}:docs", "idx:{globex}:docs"]


def test_a_reader_can_search_but_not_write(secured: RunningService, tenants: None) -> None:
    with secured.client("reader") as c:
        assert c.post("/v1/indexes/idx:{acme}:docs/search", json=VEC).status_code == 200
        put = c.put(
            "/v1/indexes/idx:{acme}:docs/documents", json={"documents": corpus(1, seed=3)[0]}
        )
        drop = c.delete("/v1/indexes/idx:{acme}:docs")
        create = c.post("/v1/indexes", json=schema("other", "other:").to_dict())
    for resp in (put, drop, create):
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == {
            "code": "forbidden",
            "message": "API key 'reader' lacks the 'write' scope",
        }


def test_a_tenant_key_cannot_read_write_or_see_another_tenant(
    secured: RunningService, tenants: None, r: redis.Redis
) -> None:
    other = "idx:{globex}:docs"
    with secured.client("acme") as c:
        assert c.get("/v1/indexes").json() == {"indexes": ["idx:{acme}:docs"]}
        assert c.post("/v1/indexes/idx:{acme}:docs/search", json=VEC).status_code == 200
        attempts = [
            c.post(f"/v1/indexes/{other}/search", json=VEC),
            c.post(f"/v1/indexes/{other}/search/batch", json={"searches": [VEC]}),
            c.get(f"/v1/indexes/{other}"),
            c.get(f"/v1/indexes/{other}/documents/1"),
            c.put(f"/v1/indexes/{other}/documents", json={"documents": corpus(1, seed=4)[0]}),
            c.delete(f"/v1/indexes/{other}/documents/1"),
            c.post(f"/v1/indexes/{other}/documents:enqueue", json={"documents": [{"id": 1}]}),
            c.delete(f"/v1/indexes/{other}"),
        ]
        # the same answer as for an index that does not exist: existence is not revealed
        missing = c.get("/v1/indexes/idx:{globex}:nothing-here")
    for resp in attempts:
        assert resp.status_code == 404, resp.text
        assert resp.json()["error"] == {
            "code": "index_not_found",
            "message": f"no index named '{other}'",
        }
    assert missing.json()["error"]["code"] == "index_not_found"
    assert r.exists("doc:{globex}:1") == 1  # nothing was deleted or overwritten
    assert SearchIndex.open(r, other).count() == 20


def test_a_tenant_creates_indexes_only_inside_its_tag(
    secured: RunningService, r: redis.Redis
) -> None:
    with secured.client("acme") as c:
        foreign_name = c.post(
            "/v1/indexes", json=schema("idx:{globex}:x", "doc:{globex}:").to_dict()
        )
        foreign_prefix = c.post(
            "/v1/indexes", json=schema("idx:{acme}:x", "doc:").to_dict()
        )  # would index every tenant's doc: keys
        own = c.post("/v1/indexes", json=schema("idx:{acme}:x", "doc:{acme}:").to_dict())
    assert foreign_name.status_code == 404
    assert foreign_prefix.status_code == 403
    assert "outside tenant 'acme'" in foreign_prefix.json()["error"]["message"]
    assert own.status_code == 201, own.text
    assert [i.decode() for i in r.execute_command("FT._LIST")] == ["idx:{acme}:x"]


def test_keys_are_stored_hashed(secured: RunningService) -> None:
    key_file = next(secured.log.parent.glob("keys.json"))
    text = key_file.read_text()
    for key in secured.keys.values():
        assert key not in text
        assert digest(key) in text


def test_serving_off_loopback_without_keys_is_refused(redis_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "redvec.cli", "serve", "--host", "0.0.0.0", "--url", redis_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: binding to 0.0.0.0 needs API keys (--api-keys FILE or REDVEC_API_KEYS; make "
        "one with `redvec apikey create`), or --no-auth to serve without them"
    )


def test_apikey_create_prints_the_key_once_and_stores_its_digest(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    run = [sys.executable, "-m", "redvec.cli", "apikey", "create"]
    first = subprocess.run(
        [*run, "ci", "--file", str(key_file), "--scope", "read", "--scope", "write"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    subprocess.run(
        [*run, "shop", "--file", str(key_file), "--tenant", "acme"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = first.stdout.strip()
    ring = KeyRing.from_file(key_file)
    found = ring.lookup(key)
    assert found is not None and found.id == "ci" and found.scopes == {"read", "write"}
    assert key not in key_file.read_text()
    shop = next(k for k in ring.keys.values() if k.id == "shop")
    assert shop.scopes == {"read"} and shop.tenant == "acme"
    assert key_file.stat().st_mode & 0o777 == 0o600
    dup = subprocess.run([*run, "ci", "--file", str(key_file)], capture_output=True, text=True)
    assert dup.returncode == 1 and "API key id 'ci' is used twice" in dup.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{", "not valid JSON"),
        ('{"keys": {}}', 'expected {"keys": [...]}'),
        ('{"keys": [{"id": "a", "sha256": "x", "scopes": ["read"]}]}', "64 lowercase hex"),
        ('{"keys": [{"id": "a", "sha256": "' + "0" * 64 + '", "scopes": ["admin"]}]}', "scopes"),
        ('{"keys": [{"id": "a", "sha256": "' + "0" * 64 + '", "scopes": ["read"], "x": 1}]}', "x"),
    ],
)
def test_bad_key_files_are_named(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=r"keys\.json") as e:
        KeyRing.from_json(text, "keys.json")
    assert needle in str(e.value)


def test_tenants_are_managed_by_unbound_keys_and_seen_by_their_own(
    secured: RunningService, r: redis.Redis
) -> None:
    with secured.client("admin") as admin:
        assert admin.post("/v1/tenants", json={"name": "acme"}).status_code == 201
        assert admin.post("/v1/tenants", json={"name": "globex"}).status_code == 201
        again = admin.post("/v1/tenants", json={"name": "acme"})
        bad = admin.post("/v1/tenants", json={"name": "no spaces"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "tenant_exists"
    assert bad.status_code == 422
    with secured.client("acme") as c:
        own = c.post("/v1/indexes", json=schema("idx:{acme}:docs", "doc:{acme}:").to_dict())
        assert own.status_code == 201, own.text
        c.put("/v1/indexes/idx:{acme}:docs/documents", json={"documents": corpus(4)[0]})
        seen = c.get("/v1/tenants").json()["tenants"]
        assert c.post("/v1/tenants", json={"name": "x"}).status_code == 403
        assert c.delete("/v1/tenants/globex").status_code == 403
    assert [(t["name"], t["indexes"], t["documents"]) for t in seen] == [
        ("acme", ["idx:{acme}:docs"], 4)
    ]
    with secured.client("reader") as c:
        assert c.delete("/v1/tenants/acme").status_code == 403
    with secured.client("admin") as admin:
        assert len(admin.get("/v1/tenants").json()["tenants"]) == 2
        dropped = admin.delete("/v1/tenants/acme")
        missing = admin.delete("/v1/tenants/acme")
    # 4 documents and the schema redvec keeps beside the index
    assert dropped.json() == {"dropped": "acme", "indexes": ["idx:{acme}:docs"], "keys": 5}
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "tenant_not_found"
    assert r.execute_command("FT._LIST") == []
