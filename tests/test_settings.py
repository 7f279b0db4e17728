"""Settings come from one table of environment variables: each read by its row, an
unreadable one named, and a resolved configuration handed to later processes intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from redvec.errors import ConfigError
from redvec.settings import ENVIRONMENT, Settings


def test_every_variable_sets_its_field() -> None:
    env = {
        "REDIS_URL": "redis://h:1", "REDVEC_PORT": "7001", "REDVEC_DATA_DIR": "/d",
        "REDVEC_INDEX_CACHE_SECONDS": "2.5", "REDVEC_FAST_SEARCH": "0",
        "OPENAI_API_KEY": "sk-x", "CO_API_URL": "http://co", "REDVEC_PASSWORD": "",
    }  # fmt: skip
    s = Settings.from_env(env)
    assert (s.redis_url, s.port, s.data_dir, s.index_cache_seconds) == (
        "redis://h:1", 7001, Path("/d"), 2.5,
    )  # fmt: skip
    assert s.fast_search is False and s.openai_api_key == "sk-x"
    assert s.cohere_base_url == "http://co" and s.password is None  # empty means unset
    assert "sk-x" not in repr(s)  # keys stay out of logs
    assert Settings.from_env(env, port=7002).port == 7002  # an argument beats the environment
    assert {v.setting for v in ENVIRONMENT} <= set(Settings.__dataclass_fields__)


@pytest.mark.parametrize(
    ("name", "raw", "wants"),
    [
        ("REDVEC_PORT", "80x", "an integer"),
        ("REDVEC_COMMAND_TIMEOUT", "soon", "a number"),
        ("REDVEC_FAST_SEARCH", "yes", "0 or 1"),
    ],
)
def test_an_unreadable_variable_is_named(name: str, raw: str, wants: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be {wants}, got '{raw}'"):
        Settings.from_env({name: raw})


def test_a_child_process_rebuilds_the_same_settings(tmp_path: Path) -> None:
    """What `redvec serve` does for its workers: export, then a new process reads back."""
    code = f"""
import subprocess, sys
from redvec.settings import Settings
import dataclasses, pathlib
chosen = Settings.from_env(redis_url="redis://x:6390", max_body_bytes=1234,
                           fast_search=False, data_dir=pathlib.Path({str(tmp_path)!r}))
chosen = dataclasses.replace(chosen, api_keys=None)  # as serve drops keys with --no-auth
chosen.export()
child = "from redvec.settings import Settings; print(repr(Settings.from_env()))"
got = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout
print(repr(chosen)); print(got.strip())
"""
    env = {**os.environ, "REDVEC_API_KEYS": "stale", "REDVEC_PORT": "7777"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "redis://x:6390" in out[0] and "port=7777" in out[0]
    assert out[1] == out[0]  # the same settings: the inherited keys removed, not read back
    assert "api_keys=None" in out[1]
