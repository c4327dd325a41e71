"""Every text a parent reads, in Japanese and English, in one catalog: `t(key, lang, **kw)`.

Japanese is the default; a key missing in English falls back to Japanese (tests check that none
is missing). Quick-reply and button labels (`*.label` keys, `label.*`) stay within LINE's 20
characters.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from notifier.formats import format_month

log = logging.getLogger(__name__)

LANGUAGES = ("ja", "en")

TEXTS: dict[str, dict[str, str]] = {
    # --- follow and consent -------------------------------------------------------------
    "follow.greeting": {
        "ja": (
            "はじめまして。子育て応援サービス「はぐくみ」です。\n"
            "お住まいの市区町村とお子さまの生年月日から、受けられる子育て支援（手当・助成・"
            "健診・予防接種など）を探して、申請の期限が来る前にお知らせします。"
        ),
        "en": (
            "Hello! This is Hagukumi, a childcare support service.\n"
            "From your municipality and your children's birth dates we find the support you "
            "can get (allowances, subsidies, check-ups, vaccinations...) and tell you before "
            "the deadlines."
        ),
    },
    "follow.privacy": {
        "ja": (
            "【個人情報の取り扱い】\n"
            "・保存するのは、お住まいの市区町村、お子さまの生年月日、出産予定日、任意で"
            "お答えいただく世帯の状況（ひとり親・住民税非課税）、通知の設定、"
            "保育園さがしで保存した園と見学の予約、LINEで申し込んだ保育園の入所申込"
            "（希望園と、保護者の就労時間などお答えいただいた内容）です。\n"
            "・これらは、受けられる支援の判定とお知らせ、保育園さがし・見学予約・入所申込"
            "のためだけに使います。\n"
            "・氏名や住所はうかがいません。\n"
            "・「削除」と送れば、いつでもすべて削除できます。\n"
            "同意いただくまでは、LINEのユーザーID以外は何も保存しません。"
        ),
        "en": (
            "[Privacy notice]\n"
            "- We store your municipality, your children's birth dates, a due date, the "
            "optional answers about your household (single parent, resident-tax exemption), "
            "your notification settings, the daycares you save and tours you book, and the "
            "daycare applications you make here (your wishes and answers such as work hours).\n"
            "- We use them only to find the support you can get, to tell you about it, and for "
            "daycare search, tours and applications.\n"
            "- We never ask for names or addresses.\n"
            '- Send "delete" at any time to erase everything.\n'
            "Until you agree we store nothing but your LINE user ID."
        ),
    },
    "consent.question": {
        "ja": "この内容に同意して始めますか？",
        "en": "Do you agree and want to start?",
    },
    "consent.english_hint": {
        "ja": "English: type 'English'",
        "en": "日本語で使うときは「日本語」と送ってください。",
    },
    "consent.agree.label": {"ja": "同意して始める", "en": "I agree"},
    "consent.later.label": {"ja": "今はしない", "en": "Not now"},
    "consent.notice.label": {"ja": "個人情報の扱い", "en": "Privacy notice"},
    "consent.later": {
        "ja": (
            "わかりました。何も保存していません。\n"
            "始めたくなったら、いつでもメッセージを送ってください。"
        ),
        "en": "All right. Nothing has been stored.\nSend any message whenever you want to start.",
    },
    "consent.needed": {
        "ja": "はぐくみをお使いいただくには、先に個人情報の取り扱いへの同意が必要です。",
        "en": "Before we can help, please agree to the privacy notice.",
    },
    "consent.thanks": {
        "ja": "ありがとうございます。いくつか質問させてください（タップで答えられます）。",
        "en": "Thank you! A few quick questions (you can answer with taps).",
    },
    "follow.welcome_back": {
        "ja": "おかえりなさい。登録いただいた情報はそのまま残っています。",
        "en": "Welcome back! Everything you told us is still here.",
    },
    "follow.welcome_back_menu": {
        "ja": "下のメニューから「受けられる支援」などをご覧ください。",
        "en": 'Use the menu below, e.g. "My support", to see what you can get.',
    },
    "follow.resume_onboarding": {
        "ja": "登録の続きから始めましょう。",
        "en": "Let's finish your registration.",
    },
    # --- onboarding -----------------------------------------------------------------------
    "onb.muni.ask": {
        "ja": (
            "お住まいの市区町村を教えてください。\n"
            "下のボタンから選ぶか、名前を入力してください（例: 渋谷区 / しぶや / Shibuya）。"
        ),
        "en": (
            "Which municipality do you live in?\n"
            "Tap one below or type its name (e.g. Shibuya / 渋谷区 / しぶや)."
        ),
    },
    "onb.muni.other.label": {"ja": "ほかの市区町村", "en": "Other"},
    "onb.muni.type": {
        "ja": "市区町村の名前を入力してください（例: 八王子市 / はちおうじ / Hachioji）。",
        "en": "Please type the name of your municipality (e.g. Hachioji / 八王子市).",
    },
    "onb.muni.candidates": {
        "ja": "「{query}」に近い市区町村です。どれですか？",
        "en": 'These are close to "{query}". Which one is it?',
    },
    "onb.muni.not_found": {
        "ja": (
            "「{query}」に合う東京都の市区町村が見つかりませんでした。"
            "はぐくみは今のところ東京都の62市区町村に対応しています。"
            "もう一度入力するか、下から選んでください。"
        ),
        "en": (
            'We could not find a Tokyo municipality matching "{query}". Hagukumi covers '
            "Tokyo's 62 municipalities for now. Please type it again or pick one below."
        ),
    },
    "onb.muni.need_text": {
        "ja": "市区町村の名前を文字で入力してください。",
        "en": "Please type the name of your municipality.",
    },
    "onb.muni.set": {"ja": "お住まい: {name}", "en": "Municipality: {name}"},
    "onb.muni.location.label": {"ja": "位置情報を送る", "en": "Send location"},
    "onb.muni.location.nearest": {
        "ja": (
            "その場所にいちばん近い役所は{office}です。お住まいは{name}ですか？"
            "違うときは下から選んでください。"
        ),
        "en": (
            "The nearest municipal office to that place is the {office}. Do you live in "
            "{name}? If not, pick your municipality below."
        ),
    },
    "onb.muni.location.outside": {
        "ja": (
            "その場所は東京都の62市区町村の外のようです。"
            "お住まいの市区町村を下から選ぶか、名前を入力してください。"
        ),
        "en": (
            "That place seems to be outside Tokyo's 62 municipalities. Pick your "
            "municipality below or type its name."
        ),
    },
    "onb.muni.did_you_mean": {
        "ja": "「{query}」は{name}のことですか？",
        "en": 'Did you mean {name} for "{query}"?',
    },
    "onb.muni.invalid": {
        "ja": "その市区町村は選べません。下から選ぶか、名前を入力してください。",
        "en": "That municipality cannot be chosen. Pick one below or type its name.",
    },
    "onb.child.ask": {
        "ja": (
            "お子さまの生年月日を選んでください。\n妊娠中の方は「出産予定日」を選んでください。\n"
            "「2024/4/1」「R6.4.1」のように入力することもできます。"
        ),
        "en": (
            "Please pick your child's date of birth.\n"
            "If you are expecting, pick the due date instead.\n"
            "You can also type it, e.g. 2024/4/1."
        ),
    },
    "onb.date.unreadable": {
        "ja": (
            "「{text}」を日付として読み取れませんでした。"
            "下のボタンから選ぶか、「2024年4月1日」「2024/4/1」「R6.4.1」のように入力してください。"
        ),
        "en": (
            'We could not read "{text}" as a date. Pick it with the buttons below, or type it '
            "like 2024-04-01 or 1 April 2024."
        ),
    },
    "onb.child.more": {
        "ja": "ほかにお子さまはいますか？",
        "en": "Any other children?",
    },
    "onb.child.added": {
        "ja": "{child}のお子さまを登録しました。",
        "en": "Added a child {child}.",
    },
    "onb.due.added": {
        "ja": "出産予定日 {date} を登録しました。",
        "en": "Due date {date} noted.",
    },
    "onb.child.none_yet": {
        "ja": "お子さまの生年月日か出産予定日を1つ以上選んでください。",
        "en": "Please add at least one child or a due date.",
    },
    "onb.child.too_many": {
        "ja": "登録できるお子さまは{max}人までです。",
        "en": "You can register up to {max} children.",
    },
    "label.pick_birth": {"ja": "生年月日を選ぶ", "en": "Date of birth"},
    "label.add_child": {"ja": "もう1人追加", "en": "Add another child"},
    "label.pick_due": {"ja": "出産予定日を選ぶ", "en": "Due date"},
    "label.done": {"ja": "これで全部", "en": "That's all"},
    "label.back": {"ja": "設定に戻る", "en": "Back"},
    "date.future_birth": {
        "ja": (
            "{date} はまだ来ていない日付なので、生年月日にはできません。"
            "妊娠中の方は「出産予定日」から選んでください。"
        ),
        "en": (
            "{date} is in the future, so it cannot be a date of birth. "
            "If you are expecting, pick a due date instead."
        ),
    },
    "date.too_old": {
        "ja": "はぐくみがお手伝いできるのは18歳までのお子さまです（{date}）。",
        "en": "Hagukumi helps with children up to 18 ({date}).",
    },
    "date.due_range": {
        "ja": "出産予定日は今日から300日以内の日付を選んでください（{date}）。",
        "en": "Please pick a due date between today and 300 days from now ({date}).",
    },
    "date.invalid": {
        "ja": "日付を読み取れませんでした。もう一度ボタンから選んでください。",
        "en": "We could not read that date. Please pick it again with the button.",
    },
    "onb.single.ask": {
        "ja": "ひとり親世帯ですか？（任意・答えなくても大丈夫です）",
        "en": "Are you a single-parent household? (optional)",
    },
    "onb.tax.ask": {
        "ja": "世帯は住民税非課税ですか？（任意・わからなければスキップで大丈夫です）",
        "en": "Is your household exempt from resident tax? (optional - skip if unsure)",
    },
    "label.yes": {"ja": "はい", "en": "Yes"},
    "label.no": {"ja": "いいえ", "en": "No"},
    "label.skip": {"ja": "答えない", "en": "Skip"},
    "onb.summary": {
        "ja": "登録内容の確認です。\n{summary}",
        "en": "Please check your details.\n{summary}",
    },
    "onb.confirm.question": {
        "ja": "この内容で登録しますか？",
        "en": "Save these details?",
    },
    "onb.confirm.label": {"ja": "登録する", "en": "Save"},
    "onb.edit.label": {"ja": "やり直す", "en": "Start over"},
    "onb.saved": {
        "ja": "登録しました。いま受けられる支援はこちらです。",
        "en": "Saved! Here is the support you can get now.",
    },
    "onb.restart": {
        "ja": "はじめから入力し直しましょう。",
        "en": "Let's start over.",
    },
    "onb.expired": {
        "ja": (
            "入力の途中で時間がたったため、内容が消えてしまいました。"
            "お手数ですが、はじめからお願いします。"
        ),
        "en": "Your answers timed out, sorry. Let's start again from the beginning.",
    },
    "summary.municipality": {"ja": "・お住まい: {name}", "en": "- Municipality: {name}"},
    "summary.child": {"ja": "・お子さま: {child}", "en": "- Child: {child}"},
    "summary.no_children": {"ja": "・お子さま: なし", "en": "- Children: none"},
    "summary.due": {"ja": "・出産予定日: {date}", "en": "- Due date: {date}"},
    "summary.single": {"ja": "・ひとり親世帯: {value}", "en": "- Single parent: {value}"},
    "summary.tax": {"ja": "・住民税非課税: {value}", "en": "- Resident-tax exempt: {value}"},
    "summary.language": {"ja": "・言語: 日本語", "en": "- Language: English"},
    "value.yes": {"ja": "はい", "en": "yes"},
    "value.no": {"ja": "いいえ", "en": "no"},
    "value.unknown": {"ja": "未回答", "en": "not answered"},
    # --- programs -------------------------------------------------------------------------
    "programs.intro": {
        "ja": "いま受けられる支援は{count}件です。",
        "en": "You can get {count} kinds of support now.",
    },
    "programs.none": {
        "ja": (
            "いまの登録内容では、受けられる支援は見つかりませんでした。"
            "新しい制度が始まったり、お子さまが対象年齢になったりしたらお知らせします。"
        ),
        "en": (
            "We found no support for your household right now. We will tell you when a new "
            "program starts or a child comes of age for one."
        ),
    },
    "programs.soon": {
        "ja": "もうすぐ対象になる制度: {names}",
        "en": "Coming up soon for you: {names}",
    },
    "programs.alt": {
        "ja": "受けられる支援: {names}",
        "en": "Support you can get: {names}",
    },
    "programs.more_title": {"ja": "ほかに{count}件", "en": "{count} more"},
    "programs.more_body": {
        "ja": "ほかにも受けられる支援が{count}件あります。自治体のページもご覧ください。",
        "en": "There are {count} more. Your municipality's website lists them too.",
    },
    "programs.not_onboarded": {
        "ja": "受けられる支援を探すため、先にご家族のことを教えてください。",
        "en": "To find your support, please first tell us about your family.",
    },
    "program.why": {"ja": "あてはまる理由", "en": "Why it fits"},
    "program.ja_only": {"ja": "詳しい内容は日本語のみです。", "en": "Details in Japanese only."},
    "program.details.label": {"ja": "詳しく見る", "en": "Details"},
    "program.applied.label": {"ja": "申請しました", "en": "I applied"},
    "program.applied_badge": {
        "ja": "申請済み（リマインドは停止中）",
        "en": "Applied (reminders stopped)",
    },
    "why.child_age": {
        "ja": "お子さま（{child}）が対象年齢です",
        "en": "Your child ({child}) is in the age range",
    },
    "why.child": {
        "ja": "お子さま（{child}）が対象です",
        "en": "Your child ({child}) qualifies",
    },
    "why.children_more": {"ja": "ほか{count}人のお子さまも対象です", "en": "and {count} more"},
    "why.lives_in": {"ja": "{place}にお住まいです", "en": "You live in {place}"},
    "why.pregnant": {"ja": "出産を控えています", "en": "You are expecting a baby"},
    "why.single_parent": {"ja": "ひとり親世帯です", "en": "Single-parent household"},
    "why.tax_exempt": {"ja": "住民税非課税世帯です", "en": "Exempt from resident tax"},
    "why.daycare": {"ja": "保育園の利用状況が条件に合います", "en": "Daycare status fits"},
    "why.disability": {
        "ja": "お子さまの障害の状況が条件に合います",
        "en": "Disability status fits",
    },
    "why.children_count": {
        "ja": "お子さまの人数が条件に合います",
        "en": "Number of children fits",
    },
    "why.income": {"ja": "世帯の所得が条件に合います", "en": "Household income fits"},
    "why.generic": {"ja": "登録内容が条件に合います", "en": "Your details fit the conditions"},
    "deadline.date": {"ja": "申請期限: {date}", "en": "Apply by {date}"},
    "deadline.after_birth": {
        "ja": "申請期限: 出生の翌日から{days}日以内（{date}まで）",
        "en": "Apply within {days} days of birth (by {date})",
    },
    "deadline.after_birth_passed": {
        "ja": "申請は出生の翌日から{days}日以内が原則です。まだの方はお早めに",
        "en": "Apply within {days} days of birth; if you have not yet, do it soon",
    },
    "deadline.none": {"ja": "申請期限: 随時", "en": "No fixed deadline"},
    "applied.done": {
        "ja": "「{name}」を申請済みにしました。この制度のリマインドは止めます。",
        "en": 'Marked "{name}" as applied. Reminders for it are stopped.',
    },
    "applied.already": {
        "ja": "「{name}」はすでに申請済みとして記録されています。リマインドは止まっています。",
        "en": '"{name}" is already marked as applied; no more reminders.',
    },
    "applied.unknown": {
        "ja": "この制度は見つかりませんでした。最新の一覧をお送りします。",
        "en": "We could not find that program. Here is the latest list.",
    },
    # --- daycare ----------------------------------------------------------------------------
    "daycare.intro": {
        "ja": "保育園さがし: 空きのある園を近い順にお探しし、見学の予約もできます。",
        "en": "Daycare search: we find daycares with places near you, and you can book tours.",
    },
    "daycare.not_onboarded": {
        "ja": "保育園をさがすには、まずお住まいの市区町村とお子さまを登録してください。",
        "en": "To search for daycare, first register your municipality and your children.",
    },
    "daycare.no_children": {
        "ja": (
            "保育園の年齢のお子さま（小学校入学前）が登録されていません。"
            "「家族の情報」からお子さまや出産予定日を登録すると探せます。"
        ),
        "en": (
            "No child of daycare age (before primary school) is registered. Add a child or "
            'a due date under "Family" to search.'
        ),
    },
    "daycare.which_child": {
        "ja": "どのお子さまの保育園をおさがしですか？",
        "en": "Which child are you looking for a daycare for?",
    },
    "daycare.unborn": {"ja": "出産予定の赤ちゃん", "en": "Baby on the way"},
    "daycare.min_age_note": {
        "ja": "園ごとに受け入れる月齢が決まっています（生後57日から、生後6か月からなど）。",
        "en": ("Each daycare takes babies from a set age (e.g. from 57 days or 6 months old)."),
    },
    "daycare.which_month": {
        "ja": "何月からの入園をお考えですか？（例: 2027年4月、2027-04、4月 と送っても大丈夫です）",
        "en": "From which month do you want a place? (You may also type e.g. 2027-04 or April)",
    },
    "daycare.month_bad": {
        "ja": (
            "入園月がわかりませんでした。「2027年4月」「2027-04」「4月」のように送るか、"
            "ボタンから選んでください。"
        ),
        "en": "I could not read the month. Type e.g. 2027-04 or April 2027, or choose a button.",
    },
    "daycare.month_out": {
        "ja": "{month}からは探せません。来月から2年先までの月を選んでください。",
        "en": "We cannot search from {month}. Choose a month from next month up to 2 years ahead.",
    },
    "daycare.not_born_yet": {
        "ja": (
            "{month}にはまだ生まれていない（または生まれたばかりの）ため、入園できる月ではありません。"
            "もう少し先の月を選んでください。"
        ),
        "en": (
            "Your child will not be born yet (or only just) in {month}, so there is no place "
            "to apply for. Please choose a later month."
        ),
    },
    "daycare.too_old": {
        "ja": (
            "{month}には小学校に入る年齢のため、保育園のクラスはありません。"
            "学童クラブなどをご検討ください。"
        ),
        "en": (
            "By {month} your child is of school age, so there is no daycare class. "
            "After-school clubs (学童) may help."
        ),
    },
    "daycare.where": {
        "ja": (
            "{klass}（{month}入園）で探します。\n"
            "場所を教えてください: 「位置情報を送る」を押すか、"
            "駅名や町名（例: {example}）を送ってください。"
        ),
        "en": (
            "Searching the {klass} (entry {month}).\n"
            'Where? Tap "Share location" or type a station or area (e.g. {example}).'
        ),
    },
    "daycare.where_again": {
        "ja": (
            "「{said}」の近くの園が{municipality}で見つかりませんでした。"
            "駅名（例: {example}）や町名を送るか、位置情報を送ってください。"
        ),
        "en": (
            'I found no daycare near "{said}" in {municipality}. Type a station (e.g. '
            "{example}) or an area, or share your location."
        ),
    },
    "daycare.no_facilities": {
        "ja": (
            "{municipality}の保育施設の情報はまだありません。"
            "お住まいの自治体の窓口にお問い合わせください。"
        ),
        "en": (
            "We have no daycare information for {municipality} yet. Please ask your "
            "municipality's office."
        ),
    },
    "daycare.results": {
        "ja": "{klass}（{month}入園）に空きのある園を近い順に{count}件お見せします。",
        "en": "{count} daycares with places in the {klass} (entry {month}), nearest first.",
    },
    "daycare.far": {
        "ja": "{municipality}の園から遠い場所です。いちばん近い園をお見せします。",
        "en": "That place is far from the daycares of {municipality}. Here are the nearest.",
    },
    "daycare.from_57_days": {"ja": "生後57日から", "en": "from 57 days old"},
    "daycare.from_months": {"ja": "生後{n}か月から", "en": "from {n} months old"},
    "daycare.too_young": {
        "ja": "{since}受け入れの園（{count}件）は、{month}にはまだ入れません。",
        "en": "{count} daycare(s) taking children {since} cannot take yours yet in {month}.",
    },
    "daycare.results_full": {
        "ja": (
            "{klass}（{month}入園）に空きのある園は見つかりませんでした。"
            "近くの{klass}のある園を{count}件お見せします（空きなし・空き不明）。"
        ),
        "en": (
            "No daycare has places in the {klass} (entry {month}). Here are {count} nearby "
            "daycares with that class (full or unknown)."
        ),
    },
    "daycare.none": {
        "ja": "{klass}のある園が見つかりませんでした。",
        "en": "No daycare with a {klass} was found.",
    },
    "daycare.alt": {"ja": "保育園さがしの結果: {names}", "en": "Daycare search: {names}"},
    "daycare.class": {"ja": "{age}歳児クラス", "en": "{age}-year class"},
    "daycare.walk": {"ja": "徒歩圏（{m} m）", "en": "Walking distance ({m} m)"},
    "daycare.hours": {"ja": "開所 {opens}–{closes}", "en": "Open {opens}–{closes}"},
    "daycare.hours_ext": {
        "ja": "開所 {opens}–{closes}（延長 {until}まで）",
        "en": "Open {opens}–{closes} (extended care until {until})",
    },
    "daycare.hours_unknown": {"ja": "開所時間: 不明", "en": "Hours: unknown"},
    "daycare.places": {"ja": "{klass}の空き: {places}", "en": "Places, {klass}: {places}"},
    "daycare.places_n": {"ja": "{n}人", "en": "{n}"},
    "daycare.places_some": {"ja": "空きあり", "en": "some"},
    "daycare.places_none": {"ja": "空きなし", "en": "full"},
    "daycare.places_unknown": {"ja": "不明", "en": "unknown"},
    "daycare.full_badge": {"ja": "空きなし", "en": "Full"},
    "daycare.unknown_badge": {"ja": "空き状況不明", "en": "Places unknown"},
    "daycare.past_points": {
        "ja": "{year}年度 最低指数 {points}点",
        "en": "FY{year} lowest points admitted: {points}",
    },
    "daycare.past_at_most": {
        "ja": "{year}年度 最低指数 {points}点以下",
        "en": "FY{year} lowest points admitted: {points} or less",
    },
    "daycare.past_withheld": {
        "ja": "{year}年度 最低指数 非公開",
        "en": "FY{year} lowest points: not published",
    },
    "daycare.past_vacant": {
        "ja": "{year}年度 空有（空きが残りました）",
        "en": "FY{year}: places were left",
    },
    "daycare.past_none": {"ja": "{year}年度 入所なし", "en": "FY{year}: nobody admitted"},
    "daycare.map.label": {"ja": "地図", "en": "Map"},
    "daycare.details.label": {"ja": "詳細", "en": "Details"},
    "daycare.book.label": {"ja": "見学を予約", "en": "Book a tour"},
    "daycare.save.label": {"ja": "保存", "en": "Save"},
    "daycare.web.label": {"ja": "ホームページ", "en": "Website"},
    "daycare.saved.label": {"ja": "保存した園", "en": "Saved daycares"},
    "daycare.tours.label": {"ja": "予約した見学", "en": "My tours"},
    "daycare.again.label": {"ja": "条件を変えて探す", "en": "Search again"},
    "daycare.location.label": {"ja": "位置情報を送る", "en": "Share location"},
    "daycare.cancel.label": {"ja": "キャンセル", "en": "Cancel"},
    "daycare.change.label": {"ja": "日時を変更", "en": "Change date"},
    "daycare.keep.label": {"ja": "予約を続ける", "en": "Keep booking"},
    "daycare.cancel_yes.label": {"ja": "キャンセルする", "en": "Yes, cancel"},
    "daycare.gone": {
        "ja": "この園の情報は見つかりませんでした。もう一度お探しください。",
        "en": "That daycare could not be found. Please search again.",
    },
    "daycare.detail.type": {"ja": "種別: {value}", "en": "Type: {value}"},
    "daycare.detail.address": {"ja": "住所: {value}", "en": "Address: {value}"},
    "daycare.detail.station": {"ja": "最寄り駅: {value}", "en": "Station: {value}"},
    "daycare.detail.walk": {
        "ja": "{station} 徒歩{minutes}分",
        "en": "{minutes} min walk from {station}",
    },
    "daycare.detail.phone": {"ja": "電話: {value}", "en": "Phone: {value}"},
    "daycare.detail.url": {"ja": "ホームページ: {value}", "en": "Website: {value}"},
    "daycare.detail.classes": {"ja": "クラス: {value}", "en": "Classes: {value}"},
    "daycare.detail.capacity": {"ja": "定員: {value}人", "en": "Capacity: {value}"},
    "daycare.detail.temporary": {"ja": "一時預かり: あり", "en": "Temporary care: yes"},
    "daycare.detail.meals": {"ja": "給食: {value}", "en": "Meals: {value}"},
    "daycare.detail.notes": {"ja": "備考: {value}", "en": "Notes: {value}"},
    "daycare.saved": {
        "ja": "保存しました: {name}。空きが出たらお知らせします。",
        "en": "Saved: {name}. We will tell you when a place opens.",
    },
    "daycare.saved_already": {
        "ja": "保存済みです: {name}。空きが出たらお知らせします。",
        "en": "Already saved: {name}. We will tell you when a place opens.",
    },
    "daycare.unsave.label": {"ja": "削除", "en": "Remove"},
    "daycare.unsaved": {
        "ja": "保存した園から削除しました: {name}。空きのお知らせも止まります。",
        "en": "Removed from your saved daycares: {name}. No more notices of places for it.",
    },
    "daycare.unsaved_already": {
        "ja": "この園はすでに保存した園から削除されています。",
        "en": "This daycare was already removed from your saved daycares.",
    },
    "daycare.saved_alt": {"ja": "保存した園: {names}", "en": "Saved daycares: {names}"},
    "daycare.tours_alt": {"ja": "予約した見学: {names}", "en": "My tours: {names}"},
    "daycare.saved_list": {
        "ja": "保存した園（{count}件）です。空きが出たらお知らせします。",
        "en": "Your saved daycares ({count}). We will tell you when a place opens.",
    },
    "daycare.saved_none": {
        "ja": "保存した園はまだありません。検索結果の「保存」で保存できます。",
        "en": 'No saved daycares yet. Tap "Save" on a search result.',
    },
    "daycare.slots": {
        "ja": "{name}の見学日を選んでください（残り = 空いている枠の数）。",
        "en": "Choose a tour date at {name} (the number is the seats left).",
    },
    "daycare.slot": {
        "ja": "{day}({weekday}) {time} 残{left}",
        "en": "{weekday} {day} {time} ({left})",
    },
    "daycare.no_slots": {
        "ja": "{name}はいま予約できる見学日がありません。園に直接お問い合わせください。",
        "en": "{name} has no tour dates open for booking now. Please contact the daycare.",
    },
    "daycare.booked": {"ja": "見学を予約しました", "en": "Tour booked"},
    "daycare.already_booked": {
        "ja": "この見学はすでに予約済みです",
        "en": "You have already booked this tour",
    },
    "daycare.changed": {"ja": "見学の日時を変更しました", "en": "Tour date changed"},
    "daycare.when": {"ja": "日時: {value}", "en": "When: {value}"},
    "daycare.booking_alt": {"ja": "{title}: {name} {when}", "en": "{title}: {name}, {when}"},
    "daycare.full": {
        "ja": "ごめんなさい、この見学は満席になりました。別の日を選んでください。",
        "en": "Sorry, this tour is now full. Please choose another date.",
    },
    "daycare.closed": {
        "ja": "この見学は受付を終了しました。別の日を選んでください。",
        "en": "This tour is no longer open for booking. Please choose another date.",
    },
    "daycare.tours_none": {
        "ja": "予約した見学はありません。",
        "en": "You have no tours booked.",
    },
    "daycare.tours_list": {
        "ja": "予約した見学（{count}件）です。",
        "en": "Your booked tours ({count}).",
    },
    "daycare.cancel_ask": {
        "ja": "この見学の予約をキャンセルしますか？\n{name}\n{when}",
        "en": "Cancel this tour?\n{name}\n{when}",
    },
    "daycare.cancelled": {
        "ja": "見学の予約をキャンセルしました: {name} {when}",
        "en": "Tour cancelled: {name}, {when}",
    },
    "daycare.kept": {"ja": "予約はそのままです。", "en": "Your booking stays as it is."},
    "daycare.moved": {
        "ja": "この見学の予約は変更されています。今の予約: {name} {when}",
        "en": "This tour booking was moved. Your booking now: {name}, {when}",
    },
    "daycare.not_live": {
        "ja": "この予約はすでにキャンセルされているか、見つかりません。",
        "en": "This booking was already cancelled or cannot be found.",
    },
    "daycare.change_pick": {
        "ja": "{name}の新しい見学日を選んでください（今の予約: {when}）。",
        "en": "Choose the new tour date at {name} (now: {when}).",
    },
    "daycare.no_other_slots": {
        "ja": "{name}にはほかに予約できる見学日がありません。今の予約はそのままです。",
        "en": "{name} has no other tour dates open. Your booking stays as it is.",
    },
    # --- settings -------------------------------------------------------------------------
    "settings.show": {
        "ja": (
            "【通知設定】\n"
            "・受け取る分野: {categories}\n"
            "・通知しない時間帯: {quiet}\n"
            "・通知の受け取り先: {channel}\n"
            "変更する項目を選んでください。"
        ),
        "en": (
            "[Notification settings]\n"
            "- Topics: {categories}\n"
            "- Quiet hours: {quiet}\n"
            "- Delivered via: {channel}\n"
            "Choose what to change."
        ),
    },
    "settings.all_on": {"ja": "すべて", "en": "all"},
    "settings.off_list": {"ja": "すべて（{off}を除く）", "en": "all except {off}"},
    "settings.categories.label": {"ja": "受け取る分野", "en": "Topics"},
    "settings.quiet.label": {"ja": "通知しない時間", "en": "Quiet hours"},
    "settings.channel.label": {"ja": "受け取り先", "en": "Delivery"},
    "settings.categories.ask": {
        "ja": "タップすると、その分野の通知をオン／オフできます（✓=受け取る）。",
        "en": "Tap a topic to turn its notices on or off (✓ = on).",
    },
    "settings.category.on": {
        "ja": "「{category}」の通知をオンにしました。",
        "en": 'Notices about "{category}" are on.',
    },
    "settings.category.off": {
        "ja": "「{category}」の通知をオフにしました。",
        "en": 'Notices about "{category}" are off.',
    },
    "settings.quiet.ask": {
        "ja": "通知しない時間帯を選んでください（この時間のお知らせは翌朝にまとめて届きます）。",
        "en": "Pick your quiet hours (notices in that time wait until the morning).",
    },
    "settings.quiet.none": {"ja": "なし（いつでも通知）", "en": "none (any time)"},
    "settings.quiet.set": {
        "ja": "通知しない時間帯を「{quiet}」にしました。",
        "en": "Quiet hours set to {quiet}.",
    },
    "settings.channel.ask": {
        "ja": "お知らせの受け取り先を選んでください。",
        "en": "Where should we send notices?",
    },
    "settings.channel.set": {
        "ja": "受け取り先を「{channel}」にしました。",
        "en": "Notices will go to: {channel}.",
    },
    "settings.channel.app_note": {
        "ja": "（アプリが使える自治体では、アプリに届きます。使えない場合はLINEに届きます）",
        "en": "(Where your municipality's app is available; otherwise LINE.)",
    },
    "settings.channel.no_app": {
        "ja": (
            "このLINEアカウントには自治体アプリが登録されていないため、"
            "お知らせはこれまでどおりLINEに届きます。"
            "アプリで受け取るには、お住まいの自治体のアプリから登録してください。"
        ),
        "en": (
            "No municipality app is registered for this LINE account, so notices keep "
            "coming here on LINE. To get them in an app, sign up in your municipality's app."
        ),
    },
    "settings.invalid": {
        "ja": "その設定は選べません。もう一度選んでください。",
        "en": "That setting is not available. Please choose again.",
    },
    "channel.line": {"ja": "LINE", "en": "LINE"},
    "channel.app": {"ja": "自治体アプリ", "en": "Municipality app"},
    "category.allowance": {"ja": "手当・給付", "en": "Allowances"},
    "category.medical": {"ja": "医療費助成", "en": "Medical costs"},
    "category.health-checkup": {"ja": "健診", "en": "Check-ups"},
    "category.vaccination": {"ja": "予防接種", "en": "Vaccinations"},
    "category.pregnancy": {"ja": "妊娠", "en": "Pregnancy"},
    "category.birth": {"ja": "出産", "en": "Birth"},
    "category.daycare": {"ja": "保育", "en": "Daycare"},
    "category.after-school": {"ja": "学童・放課後", "en": "After school"},
    "category.single-parent": {"ja": "ひとり親", "en": "Single parents"},
    "category.gift": {"ja": "ギフト", "en": "Gifts"},
    "category.consultation": {"ja": "相談・訪問", "en": "Advice & visits"},
    "category.classes": {"ja": "講座・イベント", "en": "Classes & events"},
    # --- family ---------------------------------------------------------------------------
    "family.show": {
        "ja": "【ご家族の情報】\n{summary}",
        "en": "[Your family]\n{summary}",
    },
    "family.what": {
        "ja": "変更する内容を選んでください。",
        "en": "What would you like to change?",
    },
    "family.add.label": {"ja": "子どもを追加", "en": "Add a child"},
    "family.remove.label": {"ja": "子どもを削除", "en": "Remove a child"},
    "family.muni.label": {"ja": "市区町村を変更", "en": "Municipality"},
    "family.due.label": {"ja": "出産予定日", "en": "Due date"},
    "family.lang.label": {"ja": "English", "en": "日本語"},
    "family.delete.label": {"ja": "データを削除", "en": "Delete my data"},
    "family.added": {
        "ja": "{child}のお子さまを追加しました。",
        "en": "Added a child {child}.",
    },
    "family.remove.ask": {
        "ja": "削除するお子さまを選んでください。",
        "en": "Which child should be removed?",
    },
    "family.remove.none": {
        "ja": "登録されているお子さまはいません。",
        "en": "No children are registered.",
    },
    "family.removed": {
        "ja": "{child}のお子さまの登録を削除しました。",
        "en": "Removed the child {child}.",
    },
    "family.remove.unknown": {
        "ja": "そのお子さまは見つかりませんでした（すでに削除済みかもしれません）。",
        "en": "We could not find that child (maybe already removed).",
    },
    "family.muni.ask": {
        "ja": "新しい市区町村の名前を入力するか、下から選んでください。",
        "en": "Type the name of your new municipality or pick one below.",
    },
    "family.muni.set": {
        "ja": "お住まいを{name}に変更しました。",
        "en": "Your municipality is now {name}.",
    },
    "family.due.set": {
        "ja": "出産予定日を{date}にしました。",
        "en": "Due date set to {date}.",
    },
    "family.lang.set": {
        "ja": "日本語でご案内します。",
        "en": "OK, I will talk to you in English from now on.",
    },
    "family.not_onboarded": {
        "ja": "まだご家族の情報が登録されていません。",
        "en": "Your family is not registered yet.",
    },
    # --- review ---------------------------------------------------------------------------
    "review.ask": {
        "ja": "はぐくみの使い心地はいかがですか？ 5段階で教えてください（5がいちばん良い）。",
        "en": "How do you like Hagukumi? Rate it from 1 to 5 (5 is best).",
    },
    "review.comment.ask": {
        "ja": "ありがとうございます！ ご意見やご要望があれば入力してください（任意）。",
        "en": "Thank you! Any comments or wishes? Type them here (optional).",
    },
    "review.thanks": {
        "ja": "ご意見ありがとうございます。サービスの改善に使わせていただきます。",
        "en": "Thank you for your feedback. It helps us improve.",
    },
    "review.skipped": {
        "ja": "評価ありがとうございました。",
        "en": "Thank you for rating us.",
    },
    "review.ask.service": {
        "ja": "{name}はいかがでしたか？ 5段階で教えてください（5がいちばん良い）。",
        "en": "{name}: how was it? Rate it from 1 to 5 (5 is best).",
    },
    "review.item.ask": {
        "ja": (
            "（{n}/{total}）「{question}」は5段階でいかがでしたか？（5がいちばん良い）\n"
            "ご意見は文字で送ることもできます。"
        ),
        "en": (
            '({n}/{total}) How would you rate "{question}"? 1 to 5 (5 is best).\n'
            "You can also type a comment."
        ),
    },
    "review.services.ask": {
        "ja": "どのサービスを評価しますか？",
        "en": "Which service would you like to rate?",
    },
    "review.offer": {
        "ja": "{name}はいかがでしたか？ よろしければ評価をお願いします（任意・1分ほど）。",
        "en": "{name}: how was it? If you like, rate it (optional, about a minute).",
    },
    "review.offer.label": {"ja": "この{name}を評価する", "en": "Rate {name}"},
    "review.other.label": {"ja": "ほかのサービスを評価", "en": "Other services"},
    "review.stop.label": {"ja": "評価を終える", "en": "Finish rating"},
    "label.skip_question": {"ja": "スキップ", "en": "Skip"},
    "review.invalid": {
        "ja": "1から5の数字でお答えください。",
        "en": "Please answer with a number from 1 to 5.",
    },
    # --- deletion -------------------------------------------------------------------------
    "delete.ask": {
        "ja": (
            "登録いただいた情報（お住まい・お子さまの生年月日・設定など）をすべて削除します。"
            "予約した保育園の見学はキャンセルされ、保存した園も削除されます。"
            "元に戻せません。削除しますか？"
        ),
        "en": (
            "This erases everything you told us (municipality, children's birth dates, "
            "settings). Your daycare tour bookings are cancelled and your saved daycares "
            "removed. It cannot be undone. Delete?"
        ),
    },
    "delete.yes.label": {"ja": "削除する", "en": "Delete"},
    "delete.no.label": {"ja": "やめる", "en": "Cancel"},
    "delete.done": {
        "ja": (
            "すべての情報を削除しました。これまでご利用ありがとうございました。\n"
            "また使いたくなったら、いつでもメッセージを送ってください。"
        ),
        "en": (
            "Everything has been deleted. Thank you for using Hagukumi.\n"
            "Send a message any time if you want to start again."
        ),
    },
    "delete.cancelled": {
        "ja": "削除をやめました。情報はそのままです。",
        "en": "Cancelled. Nothing was deleted.",
    },
    # --- help and fallbacks ---------------------------------------------------------------
    "help.body": {
        "ja": (
            "【はぐくみの使い方】\n"
            "・受けられる支援: いま申請できる手当・助成などの一覧\n"
            "・保育園をさがす: 空きのある園を近い順に検索、見学の予約・変更・キャンセル\n"
            "・通知設定: 受け取る分野、通知しない時間帯\n"
            "・家族の情報: お子さまの追加・削除、市区町村の変更\n"
            "・評価する: サービスへのご意見\n"
            "・「削除」と送ると登録内容をすべて削除します\n"
            '・English: type "English"'
        ),
        "en": (
            "[How to use Hagukumi]\n"
            "- My support: programs you can apply for now\n"
            "- Daycare: daycares with places near you; book, change or cancel tours\n"
            "- Settings: topics and quiet hours\n"
            "- Family: add or remove children, change municipality\n"
            "- Rate: tell us what you think\n"
            '- Send "delete" to erase all your data\n'
            "- 日本語: 「日本語」と送ってください"
        ),
    },
    "help.before_consent": {
        "ja": (
            "【はぐくみでできること】\n"
            "お住まいの市区町村とお子さまの生年月日から、受けられる子育て支援を探して、"
            "申請の期限が来る前にお知らせします。\n"
            "・使い始めるには「同意して始める」をタップしてください"
            "（個人情報の扱いはボタンから読めます）。\n"
            "・「評価する」で、同意しなくてもサービスへのご意見を送れます。\n"
            '・English: type "English"'
        ),
        "en": (
            "[What Hagukumi does]\n"
            "From your municipality and your children's birth dates we find the childcare "
            "support you can get and tell you before the deadlines.\n"
            '- To start, tap "I agree" (read the privacy notice with its button).\n'
            '- "Rate us" sends us your opinion, even without agreeing.\n'
            "- 日本語: 「日本語」と送ってください"
        ),
    },
    "help.office": {
        "ja": "【{office}】\n手続きや相談は、お住まいの自治体へ: {url}",
        "en": "[{office}]\nFor applications and advice, contact your municipality: {url}",
    },
    "help.office.phone": {"ja": "電話: {phone}", "en": "Phone: {phone}"},
    "help.unknown": {
        "ja": "ごめんなさい、うまく理解できませんでした。下のボタンから選んでください。",
        "en": "Sorry, I did not understand. Please choose one of the buttons below.",
    },
    "stale.button": {
        "ja": "このボタンは古くなったようです。下のメニューからもう一度お選びください。",
        "en": "That button seems to be out of date. Please choose again from the menu.",
    },
    "error.sorry": {
        "ja": "ごめんなさい、うまく処理できませんでした。少し時間をおいてもう一度お試しください。",
        "en": "Sorry, something went wrong. Please try again in a moment.",
    },
    # --- daycare applications (入所申込) ------------------------------------------------
    "apply.start.label": {"ja": "申し込む", "en": "Apply"},
    "apply.status.label": {"ja": "申込状況", "en": "My applications"},
    "apply.points.label": {"ja": "点数シミュレーション", "en": "Points simulator"},
    "apply.add.label": {"ja": "この園に申し込む", "en": "Add to my wishes"},
    "apply.intro": {
        "ja": "保育園の入所申込をLINEでできます。まず希望する園（20園まで）を順番に並べます。",
        "en": "You can apply for a daycare place here. First rank the daycares you wish for "
        "(up to 20).",
    },
    "apply.which_child": {"ja": "どのお子さんの申込ですか？", "en": "Which child is it for?"},
    "apply.no_children": {
        "ja": "申し込めるお子さん（生まれていて小学校入学前）が登録されていません。"
        "「家族の情報」から登録してください。",
        "en": "No child who can apply (born, not yet at school) is registered. Please add "
        "one in Family.",
    },
    "apply.unborn": {
        "ja": "出産予定のお子さんは、生まれてから「家族の情報」に登録すると申し込めます。",
        "en": "A baby on the way can apply once born and added in Family.",
    },
    "apply.add_which_child": {
        "ja": "どのお子さんの希望園に加えますか？",
        "en": "Add it to which child's wishes?",
    },
    "apply.added": {
        "ja": "{name}を{child}の第{rank}希望に加えました。",
        "en": "Added {name} as wish no. {rank} for the child {child}.",
    },
    "apply.odds.title": {
        "ja": "内定の見込み（今年度の申込状況と昨年度の申込数から{n}回試算）:",
        "en": "Chance of a place (simulated {n} times from this year's applications and last "
        "year's volume):",
    },
    "apply.odds.line": {
        "ja": "{rank}. {name}: 約{chance}（{low}〜{high}）",
        "en": "{rank}. {name}: about {chance} ({low}-{high})",
    },
    "apply.odds.any": {
        "ja": "いずれかの希望園: 約{chance}（{low}〜{high}）",
        "en": "Any of your wishes: about {chance} ({low}-{high})",
    },
    "apply.odds.none": {
        "ja": "内定の見込みは、データが少ないため表示していません。",
        "en": "The chance of a place is not shown: too few data yet.",
    },
    "apply.direct": {
        "ja": (
            "{name}は区市町村の入所選考（利用調整）の対象外です（認証保育所・認可外など）。"
            "園に直接お申し込みください。"
        ),
        "en": (
            "{name} is not part of the municipality's admission round (a certified or "
            "unlicensed daycare): apply to it directly."
        ),
    },
    "apply.added_already": {
        "ja": "{name}はすでに第{rank}希望です。",
        "en": "{name} is already wish no. {rank}.",
    },
    "apply.wishes_full": {
        "ja": "希望園は{max}園までです。どれかを外してから加えてください。",
        "en": "You can wish for up to {max} daycares. Remove one first.",
    },
    "apply.wish_gone": {
        "ja": "その園はもう希望リストにありません。",
        "en": "That daycare is no longer in the list.",
    },
    "apply.wishes_none": {
        "ja": "{child}の希望園はまだありません。保育園をさがす・保存した園・予約した見学の"
        "「この園に申し込む」で加えられます。",
        "en": "No wished daycares yet for the child {child}. Add them with Add to my wishes "
        "in the search results, saved daycares or your tours.",
    },
    "apply.applied_already": {
        "ja": "{child}はすでに申し込んでいます。希望の変更や取り下げは「申込状況」からできます。",
        "en": "The child {child} has already applied. Change wishes or withdraw in My "
        "applications.",
    },
    "apply.wishes_title": {
        "ja": "{child}の希望園（{count}/{max}）",
        "en": "Wishes, child {child} ({count}/{max})",
    },
    "apply.go.label": {"ja": "申し込みへ進む", "en": "Go on to apply"},
    "apply.commit.label": {"ja": "この希望で変更する", "en": "Save these wishes"},
    "apply.more.label": {"ja": "園を追加", "en": "Add a daycare"},
    "apply.more": {
        "ja": "保存した園と見学を予約した園から選べます。"
        "ほかの園は「保育園をさがす」から加えてください。",
        "en": "Choose from your saved daycares and tours, or search for others.",
    },
    "apply.more_none": {
        "ja": "加えられる保存した園・見学の園はありません。「保育園をさがす」から加えてください。",
        "en": "No saved or toured daycare left to add. Search for daycares to add one.",
    },
    "apply.together_ask": {
        "ja": "{child}のお子さんの申込です。{others}も一緒に申し込みますか？",
        "en": "This application is for the child {child}. Apply for {others} too?",
    },
    "apply.together_one": {"ja": "きょうだい（{child}）", "en": "the brother or sister ({child})"},
    "apply.alone.label": {"ja": "この子だけ", "en": "This child only"},
    "apply.together.label": {"ja": "きょうだいも一緒に申し込む", "en": "Apply for both"},
    "apply.together_kid.label": {"ja": "{child}も一緒に", "en": "Also {child}"},
    "apply.sibling_no_wishes": {
        "ja": "{child}の希望園がまだありません。同じ園を希望しますか？",
        "en": "No wishes yet for the child {child}. Wish for the same daycares?",
    },
    "apply.copy.label": {"ja": "同じ園を希望する", "en": "Same daycares"},
    "apply.sibling_wishes.label": {"ja": "希望園を選ぶ", "en": "Choose wishes"},
    "apply.q.mode": {
        "ja": "きょうだいの入所について、どれにあてはまりますか？",
        "en": "How may the children be placed?",
    },
    "apply.q.round": {"ja": "どの申込に申し込みますか？", "en": "Which intake round?"},
    "apply.round_of": {"ja": "{month}入所", "en": "Entry {month}"},
    "apply.no_round": {
        "ja": "いまお住まいの市区町村で受付中の入所申込はありません。",
        "en": "Your municipality is not taking daycare applications right now.",
    },
    "apply.next_round": {
        "ja": "次の受付「{name}」は{date}からです。",
        "en": "The next round, {name}, opens on {date}.",
    },
    "apply.round_unknown": {
        "ja": "次の受付期間はまだ登録されていません。市区町村の案内をご確認ください。",
        "en": "The next round's dates are not known yet. Please check your municipality's "
        "notices.",
    },
    "apply.no_class": {
        "ja": "{child}は{month}に入れるクラスがありません。",
        "en": "The child {child} has no daycare class in {month}.",
    },
    "apply.same_ask": {
        "ja": "前回の申込の内容です。変わったところはありますか？",
        "en": "This is what your last application said. Has anything changed?",
    },
    "apply.same.label": {"ja": "変わりない", "en": "No change"},
    "apply.part.single": {"ja": "ひとり親", "en": "Single parent"},
    "apply.part.siblings": {"ja": "きょうだいの在園", "en": "Siblings' daycare"},
    "apply.part.extension": {"ja": "育休延長", "en": "Leave extension"},
    "apply.fix_ask": {"ja": "どこを直しますか？", "en": "What do you want to change?"},
    "apply.q.single": {
        "ja": "ひとり親の世帯ですか？",
        "en": "Are you a single-parent household?",
    },
    "apply.yes.label": {"ja": "はい", "en": "Yes"},
    "apply.no.label": {"ja": "いいえ", "en": "No"},
    "apply.you": {"ja": "あなた", "en": "You"},
    "apply.guardian": {"ja": "保護者{n}", "en": "Guardian {n}"},
    "apply.q.reason": {
        "ja": "{who}が保育を必要とする理由はどれですか？",
        "en": "{who}: why is daycare needed?",
    },
    "apply.q.hours": {
        "ja": "{who}は週に何時間、働いて（学んで）いますか？数字で送ることもできます。",
        "en": "{who}: how many hours a week of work (or study)? You can type a number.",
    },
    "apply.hours_at_least": {"ja": "{n}時間以上", "en": "{n} h or more"},
    "apply.hours_n": {"ja": "{n}時間", "en": "{n} h"},
    "apply.hours_under": {"ja": "{n}時間未満", "en": "Under {n} h"},
    "apply.hours_type": {
        "ja": "週の時間を数字で送ってください（例: 20）。",
        "en": "Please type the hours a week as a number (e.g. 20).",
    },
    "apply.hours_bad": {
        "ja": "時間がわかりませんでした。週の時間を数字で送ってください（例: 32）。",
        "en": "Sorry, I could not read the hours. Please type a number (e.g. 32).",
    },
    "apply.q.leave": {
        "ja": "{who}はいま育児休業中ですか？",
        "en": "{who}: on parental leave now?",
    },
    "apply.q.back": {
        "ja": "{who}は{month}までに育休から復帰しますか？",
        "en": "{who}: back at work from leave by {month}?",
    },
    "apply.q.siblings": {
        "ja": "きょうだいがいま通っている保育園はありますか？あれば園の名前を送ってください。",
        "en": "Does a brother or sister go to a daycare now? If so, type its name.",
    },
    "apply.none.label": {"ja": "なし", "en": "None"},
    "apply.sibling_unknown": {
        "ja": "「{said}」という園は見つかりませんでした。"
        "園の名前をもう一度送るか、「なし」を選んでください。",
        "en": 'No daycare called "{said}" was found. Type its name again, or choose None.',
    },
    "apply.sibling_which": {"ja": "どの園ですか？", "en": "Which one?"},
    "apply.sibling_more": {
        "ja": "{name}ですね。ほかにもあれば園の名前を、なければ「これで全部」を選んでください。",
        "en": "{name}, noted. Type another name, or choose That's all.",
    },
    "apply.sibling_done.label": {"ja": "これで全部", "en": "That's all"},
    "apply.q.extension": {
        "ja": (
            "入所できなかったときは、育休を延長してもよいですか？"
            "（「育休延長を許容」と申告します）"
        ),
        "en": "If no place is found, do you accept extending parental leave?",
    },
    "apply.hours_week": {"ja": "週{n}時間", "en": "{n} h a week"},
    "apply.on_leave": {"ja": "育休中", "en": "on leave"},
    "apply.returning": {"ja": "入所月までに復帰", "en": "back by the month of entry"},
    "apply.paren": {"ja": "（{value}）", "en": " ({value})"},
    "apply.a.single": {"ja": "ひとり親: {value}", "en": "Single parent: {value}"},
    "apply.a.siblings": {
        "ja": "きょうだいの在園: {value}",
        "en": "Siblings at a daycare: {value}",
    },
    "apply.a.extension": {
        "ja": "育休延長を許容: {value}",
        "en": "Accepts longer parental leave: {value}",
    },
    "apply.summary_title": {"ja": "【申込内容の確認】", "en": "[Your application]"},
    "apply.summary_round": {
        "ja": "申込: {name}（締切 {deadline}）",
        "en": "Round: {name} (deadline {deadline})",
    },
    "apply.summary_child": {
        "ja": "お子さん: {child}（{klass}）の希望園",
        "en": "Child {child} ({klass}), wishes:",
    },
    "apply.summary_child_status": {
        "ja": "{child}: {status}",
        "en": "Child {child}: {status}",
    },
    "apply.summary_mode": {"ja": "きょうだい: {value}", "en": "Siblings: {value}"},
    "apply.changed": {
        "ja": "前回から変わった点: {value}",
        "en": "Changed since your last application: {value}",
    },
    "apply.unchanged": {
        "ja": "前回の申込から変わった点はありません。",
        "en": "Nothing changed since your last application.",
    },
    "apply.documents": {"ja": "必要な書類:", "en": "Documents needed:"},
    "apply.documents_none": {
        "ja": "追加で必要な書類はありません。",
        "en": "No further documents are needed.",
    },
    "apply.submit_ask": {
        "ja": "この内容で申し込みますか？",
        "en": "Submit this application?",
    },
    "apply.submit.label": {"ja": "申し込む", "en": "Submit"},
    "apply.fix.label": {"ja": "修正する", "en": "Change"},
    "apply.submitted": {
        "ja": "「{name}」に申し込みました。",
        "en": "Your application to {name} was received.",
    },
    "apply.documents_send": {
        "ja": "まだ届いていない書類（市区町村に提出してください）:",
        "en": "Documents still to send to the municipality:",
    },
    "apply.until_deadline": {
        "ja": "締切（{deadline}）までは、「申込状況」から希望の変更や取り下げができます。",
        "en": "Until the deadline ({deadline}) you can change your wishes or withdraw in "
        "My applications.",
    },
    "apply.err.closed": {
        "ja": "この申込の受付は終わっています。",
        "en": "This round no longer takes applications.",
    },
    "apply.err.wishes": {
        "ja": "希望園に、この申込では選べない園があります（ほかの市区町村の園、閉園、"
        "お子さんのクラスがない園）。希望園を見直してください。",
        "en": "A wished daycare cannot be chosen in this round (in another municipality, "
        "closed, or without the child's class). Please check the wishes.",
    },
    "apply.err.no_wishes": {
        "ja": "希望園を1園以上選んでください。",
        "en": "Please wish for at least one daycare.",
    },
    "apply.err.decided": {
        "ja": "この申込はすでに結果が出ているため、変更できません。",
        "en": "This application is already decided and can no longer change.",
    },
    "apply.err.deadline": {
        "ja": "締切を過ぎたため、変更や取り下げはできません。市区町村の窓口にご相談ください。",
        "en": "The deadline has passed: the application can no longer change. Please ask "
        "your municipality.",
    },
    "apply.err.withdrawn": {
        "ja": "この申込は取り下げ済みです。",
        "en": "This application was withdrawn.",
    },
    "apply.err.other": {
        "ja": "この申込はLINEでは変更できません。市区町村の窓口にご相談ください。",
        "en": "This application cannot be changed in LINE. Please ask your municipality.",
    },
    "apply.status_none": {
        "ja": "まだ入所申込はありません。",
        "en": "You have no daycare application yet.",
    },
    "apply.status_list": {"ja": "入所申込（{count}件）", "en": "Your applications ({count})"},
    "apply.status_alt": {"ja": "入所申込: {value}", "en": "Applications: {value}"},
    "apply.card.status": {"ja": "状況: {value}", "en": "Status: {value}"},
    "apply.card.wishes": {"ja": "希望園", "en": "Wishes"},
    "apply.card.missing": {
        "ja": "未提出の書類: {value}",
        "en": "Documents still missing: {value}",
    },
    "apply.card.deadline": {
        "ja": "締切 {deadline} まで変更・取り下げできます",
        "en": "You can change or withdraw until {deadline}",
    },
    "apply.card.closed": {
        "ja": "締切を過ぎたため変更できません",
        "en": "Past the deadline: no more changes",
    },
    "apply.edit.label": {"ja": "希望を変更", "en": "Change wishes"},
    "apply.withdraw.label": {"ja": "取り下げる", "en": "Withdraw"},
    "apply.edit_lead": {
        "ja": "希望園の順番を入れ替えたり、外したり、加えたりして、"
        "「この希望で変更する」を押してください。",
        "en": "Reorder, remove or add daycares, then tap Save these wishes.",
    },
    "apply.changed_wishes": {"ja": "希望園を変更しました。", "en": "Your wishes were changed."},
    "apply.withdraw_ask": {
        "ja": "{child}の「{name}」の申込を取り下げますか？",
        "en": "Withdraw the application of the child {child} to {name}?",
    },
    "apply.withdraw_yes.label": {"ja": "取り下げる", "en": "Withdraw"},
    "apply.keep.label": {"ja": "やめる", "en": "Keep it"},
    "apply.kept": {"ja": "申込はそのままです。", "en": "Your application stays as it is."},
    "apply.withdrawn": {
        "ja": "{child}の「{name}」の申込を取り下げました。",
        "en": "The application of the child {child} to {name} was withdrawn.",
    },
    "apply.points.title": {"ja": "【点数シミュレーション】", "en": "[Points simulator]"},
    "apply.points.no_rules": {
        "ja": "この市区町村の基準はまだ登録されていません。",
        "en": "Your municipality's points rules are not registered yet.",
    },
    "apply.points.rules": {"ja": "基準: {title}", "en": "Rules: {title}"},
    "apply.points.older_rules": {
        "ja": "{month}の基準がまだ登録されていないため、{title}で試算しました。",
        "en": "The rules for {month} are not registered yet: estimated with {title}.",
    },
    "apply.points.past_title": {
        "ja": "希望園の前年度の最低指数（{klass}）:",
        "en": "Last year's lowest points admitted ({klass}):",
    },
    "apply.points.no_past": {"ja": "公表なし", "en": "not published"},
    "apply.points.reached": {"ja": "（試算点はこれ以上）", "en": " (your estimate is as high)"},
    "apply.points.below": {"ja": "（試算点はこれ未満）", "en": " (your estimate is lower)"},
    "apply.points.note": {
        "ja": "※試算です。実際の点数は市区町村が書類をもとに決めます。",
        "en": "This is an estimate: the municipality decides the points from your documents.",
    },
    "apply.points.no_answers": {
        "ja": "試算するには、先に「申し込む」で質問に答えてください（申し込む前に試算できます）。",
        "en": "To estimate, first answer the questions in Apply (you can estimate before "
        "submitting).",
    },
    "menu.programs.label": {"ja": "受けられる支援", "en": "My support"},
    "menu.daycare.label": {"ja": "保育園をさがす", "en": "Daycare"},
    "menu.settings.label": {"ja": "通知設定", "en": "Settings"},
    "menu.family.label": {"ja": "家族の情報", "en": "Family"},
    "menu.rate.label": {"ja": "評価する", "en": "Rate us"},
    "menu.help.label": {"ja": "ヘルプ", "en": "Help"},
    "menu.delete.label": {"ja": "データを削除", "en": "Delete my data"},
    "menu.language.label": {"ja": "English", "en": "日本語"},
    # --- formats --------------------------------------------------------------------------
    "format.born": {"ja": "{month}生まれ", "en": "born {month}"},
    "format.born_age": {"ja": "{month}生まれ・{age}歳", "en": "born {month}, age {age}"},
    "format.list_sep": {"ja": "、", "en": ", "},
}


def language(value: str | None) -> str:
    """A supported language code (ja unless en)."""
    return "en" if value == "en" else "ja"


def t(key: str, lang: str | None = "ja", **kwargs: Any) -> str:
    """The text `key` in `lang` (falling back to Japanese), with `{name}` fields filled in."""
    entry = TEXTS.get(key)
    if entry is None:
        log.error("missing text", extra={"key": key})
        return key
    template = entry.get(language(lang)) or entry["ja"]
    return template.format(**kwargs) if kwargs else template


def format_born(birth: date, lang: str | None, age: int | None = None) -> str:
    """Name a child by birth month (never the full birth date): 2025年6月生まれ / born Jun 2025."""
    month = format_month(birth, lang)
    if age is None:
        return t("format.born", lang, month=month)
    return t("format.born_age", lang, age=age, month=month)


def join(items: list[str], lang: str | None) -> str:
    """Join a list with the language's separator."""
    return t("format.list_sep", lang).join(items)
