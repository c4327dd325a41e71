"""An on-request program (an imported class) is in the carousel a parent asks for (that it is
never pushed is tests/integrations/test_registry_push_policy.py's)."""

from __future__ import annotations

from sqlmodel import select

from integrations.importers.tokyo_registry import import_files
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, bubble_titles
from tests.conftest import shared_path

PARENT = "U" + "e5" * 16
CLASS = "ステップ・アップ！離乳食講習会（7～8か月児向け）"


async def test_an_imported_class_is_shown_when_a_parent_asks(
    line_world: LineWorld,
) -> None:
    from registry.models import Program

    await import_files(
        [shared_path("data", "registry", "131059_bunkyo_education.json")], line_world.sessions
    )
    async with line_world.sessions() as session:
        program = (await session.exec(select(Program).where(Program.name_ja == CLASS))).one()
    assert (program.status, program.push) == ("published", "on_request")

    parent = Parent(line_world, PARENT)
    answer = await parent.onboard("文京区", ("2026-04-10",))  # 7 months old on the test date
    assert CLASS in bubble_titles(answer)
    await parent.tap("受けられる支援")
    assert CLASS in bubble_titles(await line_world.last(PARENT))
