"""When an application is due: a fixed last day, or N days after a child's birth.

児童手当's 15日特例 is the model of the second kind: the application is due within 15 days
counted from the day after the birth, so a child born on June 1 must be applied for by June 16.
"""

from __future__ import annotations

from datetime import date, timedelta


def application_deadline(
    fixed: date | None, days_after_birth: int | None, birth: date | None
) -> date | None:
    """The last day to apply: the fixed date, else the birth plus the days, else None."""
    if fixed is not None:
        return fixed
    if days_after_birth is not None and birth is not None:
        return birth + timedelta(days=days_after_birth)
    return None
