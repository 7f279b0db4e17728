"""The search page at / in headless Chromium (Debian's): type a query, see results."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from redvec.index import SearchIndex
from redvec.providers import remember_provider

from ..embedding_server import EmbeddingServer, vector_for
from .conftest import RunningService
from .test_service import DIMS, schema

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed: `sudo apt-get install chromium` "
    "(`make test` does it as root)",
)

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


@pytest.fixture()
def page(tmp_path: Any) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture()
def articles(r: redis.Redis, server: EmbeddingServer) -> SearchIndex:
    idx = SearchIndex.create(r, schema("articles", "article:"))
    remember_provider(
        idx, {"kind": "openai", "model": "m", "base_url": f"{server.url}/v1"}, ["title"]
    )
    titles = ["bond yields climb", "a late winner in the derby", "quantum error correction"]
    idx.upsert(
        {
            "id": f"a{n}",
            "title": t,
            "category": ["finance", "sport", "science"][n],
            "price": n,
            "embedding": vector_for(t, DIMS),
        }
        for n, t in enumerate(titles)
    )
    idx.wait_indexed()
    return idx


def test_type_a_query_and_see_results(service: RunningService, articles: Any, page: Any) -> None:
    page.goto(f"{service.url}/?index=articles")
    page.wait_for_function("document.querySelector('#index').value === 'articles'")
    page.fill("#q", "a late winner in the derby")
    page.fill("#k", "2")
    page.click("#go")
    page.wait_for_selector("li.hit")
    hits = page.locator("li.hit")
    assert hits.count() == 2
    first = hits.nth(0).inner_text()
    assert first.startswith("a1")
    assert "score 1.0000" in first and "distance 0.0000" in first
    assert "title: a late winner in the derby" in first
    assert "category: sport" in first
    assert page.inner_text("#status").startswith("2 results in ")


def test_filters_and_errors_show_on_the_page(
    service: RunningService, articles: Any, page: Any
) -> None:
    page.goto(f"{service.url}/?index=articles")
    page.wait_for_function("document.querySelector('#index').value === 'articles'")
    page.fill("#q", "a late winner in the derby")
    page.fill("#filter", '{"field": "category", "tag": ["finance"]}')
    page.click("#go")
    page.wait_for_selector("li.hit")
    texts = page.locator("li.hit").all_inner_texts()
    assert len(texts) == 1 and texts[0].startswith("a0")

    page.fill("#filter", '{"field": "colour", "tag": ["red"]}')
    page.click("#go")
    page.wait_for_selector("#status.error")
    assert "colour" in page.inner_text("#status")
    assert page.locator("li.hit").count() == 0
