"""The delivery and operations pages say what "sent" includes (notices shown in the chat, which
cost no LINE message) and, when LINE sets no monthly limit, say so plainly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from notifier.ops import record_quota
from registry.web.kit import WEB
from tests.web.test_console_delivery import HACHIOJI, TOKYO, figure, page, seed


async def test_sent_is_explained_beside_the_line_messages(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await seed(sessions)
    await signed_in(HACHIOJI, "viewer")
    html = await page(client, "/console/delivery")
    means = html[html.index('id="sent-means"') :]
    means = means[: means.index("</p>")]
    assert "トーク画面の返答で見せたもの" in means and "費用もかかりません" in means
    assert "プッシュ送信したメッセージだけ" in means
    assert "うちこの自治体の通知をプッシュ送信したメッセージ" in html
    english = await page(client, "/console/delivery?lang=en")
    assert "shown in the chat&#39;s reply when a parent asked" in english
    assert "Of which pushed messages carrying this municipality&#39;s notices" in english
    assert figure(english, "ours") == "4"


async def test_no_monthly_limit_is_said_plainly(
    client: Any, signed_in: Any, sessions: Any
) -> None:
    await seed(sessions)
    await record_quota(client.server.app[WEB].redis, None, None, datetime.now(UTC))
    await signed_in(TOKYO, "operator")
    for path in ("/console/ops", "/console/delivery?m=132012"):
        html = await page(client, path)
        assert "LINE エミュレーターが月間の上限を設けません" in html, path
        assert 'data-figure="used"' not in html and 'data-figure="remaining"' not in html
        assert 'id="sent-means"' in html
    english = await page(client, "/console/ops?lang=en")
    assert "the LINE emulator sets no monthly limit" in english
