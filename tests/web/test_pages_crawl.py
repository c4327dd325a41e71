"""Every page a person reaches from the console's menu and the public dashboard: light (≤ 200 KB
on first load, HTML with its CSS and JS), served by the app alone (no CDN), and accessible in the
ways a machine can check (a language, labelled inputs, headed tables, text for images)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_FIRST_LOAD = 200 * 1024
MAX_PAGES = 120


class PageFacts(HTMLParser):
    """What the checks need of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.links: list[str] = []
        self.assets: list[str] = []
        self.external: list[str] = []
        self.inputs: list[dict[str, str]] = []
        self.labels_for: set[str] = set()
        self.label_depth = 0
        self.unlabelled_images: list[str] = []
        self.tables = 0
        self.headed_tables = 0
        self.in_table_head = False
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        if "style" in a:
            self.inline.append(f"style= on <{tag}>")
        if any(k.startswith("on") for k in a):
            self.inline.append(f"event handler on <{tag}>")
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "link" and a.get("rel") == "stylesheet":
            self.assets.append(a.get("href", ""))
        if tag == "script":
            if "src" in a:
                self.assets.append(a["src"])
            else:
                self.inline.append("inline <script>")
        for key in ("src", "href", "action"):
            value = a.get(key, "")
            if value.startswith(("http://", "https://", "//")) and tag in {
                "script",
                "link",
                "img",
                "iframe",
                "form",
            }:
                self.external.append(value)
        if tag == "label":
            self.label_depth += 1
            if a.get("for"):
                self.labels_for.add(a["for"])
        if tag in {"input", "select", "textarea"}:
            kind = a.get("type", "text")
            if kind not in {"hidden", "submit", "button", "reset", "image"}:
                self.inputs.append({**a, "_wrapped": "1" if self.label_depth else ""})
        if tag == "img" and "alt" not in a:
            self.unlabelled_images.append(a.get("src", "?"))
        if tag == "table":
            self.tables += 1
        if tag == "th":
            self.in_table_head = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.label_depth = max(0, self.label_depth - 1)
        if tag == "table" and self.in_table_head:
            self.headed_tables += 1
            self.in_table_head = False


def _unlabelled(facts: PageFacts) -> list[str]:
    missing = []
    for field in facts.inputs:
        if field["_wrapped"] or field.get("aria-label") or field.get("aria-labelledby"):
            continue
        if field.get("id") and field["id"] in facts.labels_for:
            continue
        missing.append(field.get("name") or field.get("id") or "?")
    return missing


async def _crawl(client: Any, starts: list[str]) -> dict[str, tuple[int, PageFacts, int]]:
    seen: dict[str, tuple[int, PageFacts, int]] = {}
    queue = list(starts)
    asset_sizes: dict[str, int] = {}
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        response = await client.get(path)
        body = await response.read()
        facts = PageFacts()
        if response.headers.get("Content-Type", "").startswith("text/html"):
            facts.feed(body.decode("utf-8"))
        weight = len(body)
        for asset in facts.assets:
            if asset not in asset_sizes:
                asset_sizes[asset] = len(await (await client.get(asset)).read())
            weight += asset_sizes[asset]
        seen[path] = (response.status, facts, weight)
        for link in facts.links:
            target = urlsplit(urljoin(path, link))
            if target.netloc or not target.path.startswith(("/console", "/quality")):
                continue
            if target.path.endswith((".csv", ".json")) or "export" in target.path:
                continue
            if re.search(r"lang=|before=|page=|sort=", target.query):
                continue  # variants of a page already seen
            queue.append(target.path + ("?" + target.query if target.query else ""))
    return seen


async def test_every_page_is_light_self_served_and_machine_accessible(
    client: Any, signed_in: Any, sessions: Any, tmp_path: Any
) -> None:
    from hagukumi.demo import load_demo
    from tests.conftest import SHARED, TODAY

    # The demo's programs, facilities, vacancies, tours and rounds: pages with real rows.
    await load_demo(
        sessions,
        key_file=tmp_path / "key.txt",
        registry_dir=None,
        facilities_dir=SHARED / "data" / "facilities",
        progress=lambda _: None,
        today=TODAY,
    )
    await signed_in("132012", "editor")
    menu = [
        "/console/programs",
        "/console/programs/new",
        "/console/daycare/facilities",
        "/console/daycare/vacancies",
        "/console/daycare/tours",
        "/console/daycare/applications",
        "/console/daycare/rounds",
        "/console/delivery",
        "/console/quality",
        "/console/history",
    ]
    pages = await _crawl(client, ["/console/", "/quality", *menu])
    # Every page of the menu is there (a crawl skips what answers 404).
    assert {path: pages[path][0] for path in menu} == dict.fromkeys(menu, 200)
    problems = []
    for path, (status, facts, weight) in pages.items():
        if status >= 500:
            problems.append(f"{path}: status {status}")
        if status != 200:
            continue
        if weight > MAX_FIRST_LOAD:
            problems.append(f"{path}: {weight:,} bytes on first load")
        if facts.external:
            problems.append(f"{path}: loads from elsewhere: {facts.external}")
        if facts.lang not in {"ja", "en"}:
            problems.append(f"{path}: no page language")
        if facts.inline:
            problems.append(f"{path}: blocked by the CSP: {sorted(set(facts.inline))}")
        unlabelled = _unlabelled(facts)
        if unlabelled:
            problems.append(f"{path}: inputs without a label: {unlabelled}")
        if facts.unlabelled_images:
            problems.append(f"{path}: images without alt: {facts.unlabelled_images}")
        if facts.tables != facts.headed_tables:
            problems.append(f"{path}: a table without header cells")
    assert not problems, "\n".join(problems)


def test_the_crawl_finds_what_it_checks() -> None:
    facts = PageFacts()
    facts.feed(
        '<html lang="ja"><script>alert(1)</script><input name="q">'
        '<label for="a">A</label><input id="a" name="a"><label>B <input name="b"></label>'
        '<img src="x.png"><table><tr><td>1</td></tr></table>'
        '<link rel="stylesheet" href="https://cdn.example/x.css"><p style="color:red">x</p>'
    )
    assert _unlabelled(facts) == ["q"]
    assert facts.unlabelled_images == ["x.png"]
    assert facts.tables == 1 and facts.headed_tables == 0
    assert facts.external == ["https://cdn.example/x.css"]
    assert sorted(set(facts.inline)) == ["inline <script>", "style= on <p>"]


async def test_the_crawl_visits_the_pages_with_rows(
    client: Any, signed_in: Any, sessions: Any, tmp_path: Any
) -> None:
    from hagukumi.demo import load_demo
    from tests.conftest import SHARED, TODAY

    await load_demo(
        sessions,
        key_file=tmp_path / "key.txt",
        registry_dir=None,
        facilities_dir=SHARED / "data" / "facilities",
        progress=lambda _: None,
        today=TODAY,
    )
    await signed_in("132012", "editor")
    pages = await _crawl(client, ["/console/programs", "/console/daycare/facilities"])
    assert any(re.fullmatch(r"/console/programs/\d+", p) for p in pages)
    assert any(re.fullmatch(r"/console/daycare/facilities/\d+", p) for p in pages)
