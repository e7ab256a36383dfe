"""Reporting: image grids, tables and HTML reports."""
