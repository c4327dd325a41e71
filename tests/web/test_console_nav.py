"""The console's navigation: an operator's municipality switcher and `?m=` kept on the menu's
links (others never carry it); the site's icon."""

from __future__ import annotations

import re
from typing import Any

MENU = re.compile(r'<nav class="menu".*?</nav>', re.S)


def menu_links(html: str) -> list[str]:
    found = MENU.search(html)
    assert found, "the page has no console menu"
    return re.findall(r'<a href="([^"]+)"', found.group(0))


async def test_an_operator_keeps_the_municipality_on_every_menu_link(
    client: Any, signed_in: Any
) -> None:
    await signed_in("000000", "operator")
    html = await (await client.get("/console/daycare/vacancies?m=131032")).text()
    links = menu_links(html)
    assert "/console/daycare/facilities?m=131032" in links
    assert "/console/ops?m=131032" in links
    assert all(link.endswith("m=131032") for link in links), links
    # The switcher: a labelled select of the municipalities, the one shown selected.
    assert '<label for="switch-m">表示する自治体</label>' in html
    assert '<option value="131032" selected>港区 (131032)</option>' in html
    assert 'action="/console/daycare/vacancies"' in html
    english = await (await client.get("/console/delivery?m=131032&lang=en")).text()
    assert "Municipality shown" in english and "Minato" in english
    # Without ?m= the menu is plain (the operator's own scope).
    plain = menu_links(await (await client.get("/console/daycare/vacancies")).text())
    assert "/console/daycare/vacancies" in plain and not any("m=" in x for x in plain)


async def test_a_clerk_never_carries_m_nor_sees_the_switcher(client: Any, signed_in: Any) -> None:
    await signed_in("132012", "editor")
    html = await (await client.get("/console/daycare/vacancies?m=131032")).text()
    links = menu_links(html)
    assert "/console/daycare/facilities" in links
    assert not any("m=" in link for link in links)
    assert 'id="switch-m"' not in html


async def test_the_icon_answers_and_pages_link_it(client: Any) -> None:
    icon = await client.get("/favicon.ico")
    assert icon.status == 200 and icon.headers["Content-Type"] == "image/x-icon"
    assert (await icon.read())[:4] == b"\x00\x00\x01\x00"
    page = await (await client.get("/quality")).text()
    assert '<link rel="icon" href="/favicon.ico"' in page
    signin = await (await client.get("/console/signin")).text()
    assert '<link rel="icon" href="/favicon.ico"' in signin
