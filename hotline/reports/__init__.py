"""The monthly service report's pure pieces: no I/O, no database, no web framework.

The figures come from :mod:`hotline.desk.report`; what is here turns them into
what a manager reads and prints — charts as SVG text drawn on the server
(:mod:`hotline.reports.svg_charts`, on nice round axis scales from
:mod:`hotline.reports.scale`), because customer sites have no internet and the
report must print on A4 without any script.
"""
