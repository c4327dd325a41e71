"""Importers: data from outside systems brought into Hagukumi's tables.

`tokyo_registry` maps Tokyo's childcare support program registry to programs; `families` brings
families (and their app subscriptions) from an existing system. Both return a subclass of
`report.ImportReport`: counts, what was rejected and why, and what a person should review.
"""
