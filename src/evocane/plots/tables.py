"""Browsable tables for the report: a pandas table as one self-contained HTML page with an interactive DataTable
(itables in its offline mode: the DataTables bundle is inlined, so the page sorts, searches and filters without a
network, also inside the report, which shows HTML items in an iframe). The TSV/CSV stays the data file; the HTML
page is what the report shows."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from evocane.atomic import atomic_path

PAGE_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 13px; margin: 12px; color: #1f2937; }
h1 { font-size: 17px; margin: 0 0 4px 0; }
p.note { margin: 2px 0 10px 0; color: #4b5563; max-width: 70em; }
table.dataTable td, table.dataTable th { padding: 3px 8px; }
"""


def table_id(title: str) -> str:
    """An HTML id from the title, so the same table gives the same bytes (itables would draw a random one)."""
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", title).strip("_") or "table"
    return f"t_{slug}"


def table_page(frame: pd.DataFrame, title: str, note: str = "", page_length: int = 25) -> str:
    """The HTML document: title, an optional note (plain text), and the table (every row: no downsampling), sortable
    by any column, with a global search box and a filter box per column."""
    from itables import options, to_html_datatable
    from itables.javascript import generate_init_offline_itables_html

    shown = frame.reset_index(drop=True).copy()
    for column in shown.columns:  # 4 significant digits: the CSV/TSV keeps every digit
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = [float(f"{v:.4g}") if pd.notna(v) else v for v in shown[column]]
    table = to_html_datatable(
        shown,
        connected=False,
        table_id=table_id(title),
        display_logo_when_loading=False,
        showIndex=False,
        maxBytes=0,
        pageLength=page_length,
        lengthMenu=[10, 25, 100, 1000],
        column_filters="footer",
        # not itables' default layout, which it strips from tables that fit on one page: the search box stays
        layout={"topStart": "info", "topEnd": "search", "bottomStart": "pageLength", "bottomEnd": "paging"},
        classes="display compact cell-border",
    )
    bundle = generate_init_offline_itables_html(options.dt_bundle)
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>{note_html}\n{bundle}\n{table}\n</body></html>\n"
    )


def write_table_page(frame: pd.DataFrame, path: str | Path, title: str, note: str = "") -> Path:
    with atomic_path(path) as temp:
        Path(temp).write_text(table_page(frame, title, note), encoding="utf-8")
    return Path(path)
