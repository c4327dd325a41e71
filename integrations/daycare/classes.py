"""Which daycare class a child enters in a given month (DOMAIN.md: class ages and fiscal years).

A daycare application for a month of entry is decided on the class age of the fiscal year that
month belongs to: a child born 2024-04-01 enters the 1-year class in April 2025, one born
2024-04-02 the 0-year class (`rules.ages.class_age`).
"""

from __future__ import annotations

from datetime import date

from integrations.daycare.models import CLASS_AGES
from rules.ages import age_months, class_age, fiscal_year


def month_start(d: date) -> date:
    """The first day of `d`'s month (months of entry are stored as their first day)."""
    return d.replace(day=1)


def entry_class_age(birth: date, entry_month: date) -> int:
    """The class age a child born on `birth` has in the fiscal year of `entry_month`."""
    return class_age(birth, fiscal_year(month_start(entry_month)))


def entry_class(birth: date, entry_month: date) -> int | None:
    """The daycare class (0-5) the child would enter, or None: not born by the first day of the
    month of entry, or past the 5-year class (school age)."""
    start = month_start(entry_month)
    if birth > start:
        return None
    age = entry_class_age(birth, start)
    return age if age in CLASS_AGES else None


def months_old_at_entry(birth: date, entry_month: date) -> int | None:
    """Full months of age on the first day of the month of entry (None if not born by then)."""
    start = month_start(entry_month)
    return age_months(birth, start) if birth <= start else None
