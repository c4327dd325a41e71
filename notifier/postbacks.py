"""Postback action names (`a=...`): the buttons the bot and the pushes build, and the bot's
handlers that answer them, all name them from here.

They travel inside buttons already sent to parents, so a name never changes once released
(an old button with an unknown name is answered as stale).
"""

from __future__ import annotations

# Rich menu and quick-reply menu.
MENU_PROGRAMS = "menu.programs"
MENU_DAYCARE = "menu.daycare"
MENU_SETTINGS = "menu.settings"
MENU_FAMILY = "menu.family"
MENU_RATE = "menu.rate"
MENU_HELP = "menu.help"

# Consent (the privacy notice).
CONSENT = "consent"
CONSENT_NOTICE = "consent.notice"

# Onboarding.
ONB_MUNICIPALITY = "onb.muni"
ONB_MUNICIPALITY_OTHER = "onb.muni.other"
ONB_CHILD = "onb.child"
ONB_DUE = "onb.due"
ONB_DONE = "onb.done"
ONB_SINGLE = "onb.single"
ONB_TAX = "onb.tax"
ONB_CONFIRM = "onb.ok"
ONB_EDIT = "onb.edit"

# Programs ("I applied" on a card and on a pushed notice).
APPLIED = "applied"

# Notification settings (the category toggle is also a pushed notice's "turn off" button).
SETTINGS_CATEGORIES = "set.cats"
SETTINGS_CATEGORY = "set.cat"
SETTINGS_QUIET = "set.quiet"
SETTINGS_QUIET_SET = "set.q"
SETTINGS_CHANNEL = "set.channel"
SETTINGS_CHANNEL_SET = "set.ch"

# Family.
FAMILY_ADD_CHILD = "fam.add"
FAMILY_REMOVE_CHILD = "fam.rm"
FAMILY_REMOVE_CHILD_CONFIRM = "fam.rmc"
FAMILY_MUNICIPALITY = "fam.muni"
FAMILY_MUNICIPALITY_SET = "fam.mset"
FAMILY_DUE = "fam.due"
FAMILY_LANGUAGE = "fam.lang"

# Review.
RATE = "rate"  # overall 1-5 (`v`), of the service `s` (none: the bot itself)
RATE_SKIP = "rate.skip"  # no comment / stop rating
RATE_OFFER = "rate.offer"  # "この◯◯を評価する" after a service was used (`s`)
RATE_SERVICES = "rate.svc"  # which service to rate (from the rich menu's 評価する)
RATE_ITEM = "rate.q"  # an item-specific answer: review `r`, question `q`, `v` 1-5 or "skip"

# Deleting the family's data.
DELETE_ASK = "del.ask"
DELETE_YES = "del.yes"
DELETE_NO = "del.no"

# Daycare (保育園をさがす): search, details, saving, tours (bot/handlers/daycare.py; the
# daycare notices' buttons name them too).
DC_CHILD = "dc.child"
DC_MONTH = "dc.month"
DC_AGAIN = "dc.again"
DC_DETAILS = "dc.info"
DC_SAVE = "dc.save"
DC_SAVED = "dc.saved"
DC_UNSAVE = "dc.unsave"
DC_SLOTS = "dc.slots"
DC_BOOK = "dc.book"
DC_TOURS = "dc.tours"
DC_CANCEL = "dc.cancel"
DC_CANCEL_YES = "dc.cancel.ok"
DC_KEEP = "dc.keep"
DC_CHANGE = "dc.change"
DC_MOVE = "dc.move"

# Daycare applications (入所申込): wishes, the apply flow, 申込状況, the points simulator
# (bot/handlers/applications.py; the facility cards of the daycare search name AP_WISH_ADD).
AP_START = "ap.start"
AP_CHILD = "ap.child"
AP_WISH_ADD = "ap.add"
AP_WISHES = "ap.wishes"
AP_WISH_MOVE = "ap.move"
AP_WISH_REMOVE = "ap.rm"
AP_WISH_MORE = "ap.more"
AP_APPLY = "ap.apply"
AP_TOGETHER = "ap.together"
AP_COPY = "ap.copy"
AP_MODE = "ap.mode"
AP_SAME = "ap.same"
AP_FIX = "ap.fix"
AP_REDO = "ap.redo"
AP_ANSWER = "ap.ans"
AP_SUBMIT = "ap.submit"
AP_STATUS = "ap.status"
AP_EDIT = "ap.edit"
AP_COMMIT = "ap.commit"
AP_WITHDRAW = "ap.wd"
AP_WITHDRAW_YES = "ap.wd.ok"
AP_KEEP = "ap.keep"
AP_POINTS = "ap.points"
