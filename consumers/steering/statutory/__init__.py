"""The statutory yearly report: an agency's report to Sở Công Thương and the compiled provincial one.

``period`` decides the reporting period, ``model`` holds what a report is, ``compute`` builds it
from the dashboard store for one viewer (TLP sharing respected), and ``csv_export``,
``docx_export`` and ``xlsx_export`` write the same figures the printable page shows.
"""
