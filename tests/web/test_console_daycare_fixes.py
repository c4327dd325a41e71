"""What a newcomer trial found on the daycare console pages, fixed."""

from __future__ import annotations

from typing import Any

from tests.web.test_console_daycare import HEADER, MUNI, _upload


async def test_an_unreadable_capacity_or_time_is_shown_with_its_value(
    client: Any, signed_in: Any
) -> None:
    token = await signed_in(MUNI, "editor")
    text = "\n".join(
        [
            HEADER,
            f"{MUNI},101,みどり保育園,ミドリ,認可保育所,東京都八王子市元本郷町3-24-1,35.66,139.32,"
            "abc,産休明けから,月;火;水;木;金;土,25:99,19:00",
        ]
    )
    answer = await client.post(
        "/console/daycare/facilities/import", data=_upload(token, "list.csv", text.encode())
    )
    html = await answer.text()
    assert answer.status == 200, html
    assert "読めなかった値" in html and "変更していません" in html
    assert '<td class="num">2</td><td>収容定員</td><td><code>abc</code></td>' in html
    assert '<td class="num">2</td><td>開始時間</td><td><code>25:99</code></td>' in html
