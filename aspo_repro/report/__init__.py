"""``report``: a self-contained static site of everything a profile has produced (docs/report.md).

One ``index.html`` with its assets, opened from disk without a server: every table of the profile
(its cells the same rendering data as the Markdown tables, coloured by the sign and significance of
their differences), the figures as SVG, a pair browser per model's preference data, base and trained
models' answers to the same benchmark items side by side, training curves, and where every number
came from. The ``collect_*`` functions gather the data (one module per view), ``site`` renders and writes it atomically.
"""

from aspo_repro.report.site import build_report

__all__ = ["build_report"]
