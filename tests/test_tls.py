"""rediss:// with CA, client certificate and key, through a real TLS terminator
(Debian's stunnel4, requiring client certificates) in front of the embedded server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from redvec.connection import connect
from redvec.errors import ConfigError, RedisUnavailableError
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, TagField, VectorField
from redvec.server import EmbeddedServer, find_free_port
from redvec.settings import Settings

from .conftest import REDVEC

STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(
    not (STUNNEL and OPENSSL),
    reason="needs stunnel4 and openssl: `sudo apt-get install stunnel4 openssl` "
    "(`make test` does it as root)",
)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run([str(OPENSSL), *args], cwd=cwd, check=True, capture_output=True)


def issue(cwd: Path, ca: str, name: str, cn: str, ext: str = "") -> None:
    """A key and a certificate for ``cn`` signed by CA ``ca``."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={cn}", cwd=cwd)  # fmt: skip
    (cwd / f"{name}.ext").write_text(ext or "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext",
            cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN=redvec {ca}", cwd=d)  # fmt: skip
    issue(d, "ca", "server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    issue(d, "ca", "client", "redvec-client")
    return d


@pytest.fixture(scope="module")
def tls_url(
    redis_server: EmbeddedServer, pki: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = find_free_port()
    conf = tmp_path_factory.mktemp("stunnel") / "stunnel.conf"
    log = conf.with_name("stunnel.log")
    conf.write_text(
        f"foreground = yes\npid =\noutput = {log}\n\n[redis]\naccept = 127.0.0.1:{port}\n"
        f"connect = 127.0.0.1:{redis_server.port}\ncert = {pki / 'server.crt'}\n"
        f"key = {pki / 'server.key'}\nCAfile = {pki / 'ca.crt'}\nverify = 2\n"
    )
    proc = subprocess.Popen(
        [str(STUNNEL), str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"stunnel did not start: {log.read_text()}") from None
            time.sleep(0.05)
    yield f"rediss://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(5)


def tls(pki: Path, ca: str = "ca", client: bool = True, **more: object) -> Settings:
    return Settings(
        tls_ca_file=pki / f"{ca}.crt",
        tls_cert_file=pki / "client.crt" if client else None,
        tls_key_file=pki / "client.key" if client else None,
        **more,  # type: ignore[arg-type]
    )


def test_index_and_search_over_mutual_tls(tls_url: str, pki: Path, r: redis.Redis) -> None:
    client = connect(tls_url, settings=tls(pki))
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    idx = SearchIndex.create(
        client, IndexSchema("idx:t", "t:", (TagField("c"), VectorField("v", dims=4)))
    )
    idx.upsert([{"id": i, "c": "x", "v": np.arange(4) + i + 1.0} for i in range(20)])
    idx.wait_indexed()
    assert idx.search([1, 2, 3, 4], 3).ids[0] == "0"
    assert r.exists("t:19") == 1  # the same server, reached in plain text by the fixture


def test_a_wrong_ca_or_a_missing_client_certificate_is_a_clear_error(
    tls_url: str, pki: Path
) -> None:
    with pytest.raises(RedisUnavailableError, match=r"certificate verify failed.*REDVEC_TLS_CA"):
        connect(tls_url, settings=tls(pki, ca="other-ca"))
    with pytest.raises(RedisUnavailableError, match="cannot reach Redis at rediss://"):
        connect(tls_url, settings=tls(pki, client=False))  # stunnel demands a client cert


def test_tls_settings_are_checked_before_connecting(tls_url: str, pki: Path) -> None:
    with pytest.raises(ConfigError, match=r"REDVEC_TLS_CA: no such file /nope\.crt"):
        connect(tls_url, settings=Settings(tls_ca_file=Path("/nope.crt")))
    with pytest.raises(ConfigError, match="is not a rediss:// URL"):
        connect("redis://127.0.0.1:1", settings=tls(pki))
    with pytest.raises(ConfigError, match="go together"):
        connect(
            tls_url, settings=Settings(tls_ca_file=pki / "ca.crt", tls_cert_file=pki / "client.crt")
        )


def test_the_cli_reaches_redis_over_tls(tls_url: str, pki: Path, cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "REDIS_URL": tls_url,
        "REDVEC_TLS_CA": str(pki / "ca.crt"),
        "REDVEC_TLS_CERT": str(pki / "client.crt"),
        "REDVEC_TLS_KEY": str(pki / "client.key"),
    }
    doctor = subprocess.run(
        [*REDVEC, "doctor"], env=env, capture_output=True, text=True, timeout=60
    )
    assert doctor.returncode == 0, doctor.stderr
    assert "rediss://127.0.0.1" in doctor.stdout
