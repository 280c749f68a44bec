"""Reports: an HTML page with training curves, histograms and example grids (``lungseg report``)."""

from lungseg.reports.page import write_report

__all__ = ["write_report"]
