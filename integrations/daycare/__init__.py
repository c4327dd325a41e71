"""The daycare one-stop (保育園のワンストップ), to come: its own tables and code for facilities,
vacancies, search, tours, applications, points (利用調整), allocation and the result notices
(内定, 保留, a seat opened). Empty for now; importers of facility data go to `importers/`."""
