"""Read an XLSX file with openpyxl (an independent reader) and print, as JSON on stdout, each
sheet's name, frozen pane, autofilter, column widths and every cell's value, Python type and
number format, and whether it is bold.

Usage: VENV/bin/python xlsx_cells.py FILE.xlsx
"""

import datetime
import json
import sys

import openpyxl
from openpyxl.utils import get_column_letter


def cell(c):
    v = c.value
    if isinstance(v, datetime.datetime):
        kind, v = "datetime", v.isoformat()
    elif isinstance(v, datetime.date):
        kind, v = "date", v.isoformat()
    elif isinstance(v, bool):
        kind = "bool"
    elif isinstance(v, int):
        kind = "int"
    elif isinstance(v, float):
        kind = "float"
    elif isinstance(v, str):
        kind = "str"
    elif v is None:
        kind = "none"
    else:
        kind, v = type(v).__name__, str(v)
    return {
        "type": kind,
        "value": v,
        "format": c.number_format,
        "bold": bool(c.font and c.font.b),
    }


def widths(ws):
    """Each column's width by letter (a writer may give a range of columns one entry)."""
    out = {}
    for d in ws.column_dimensions.values():
        if d.customWidth and d.min and d.max:
            for i in range(d.min, d.max + 1):
                out[get_column_letter(i)] = d.width
    return out


def main():
    book = openpyxl.load_workbook(sys.argv[1])
    out = []
    for ws in book.worksheets:
        out.append(
            {
                "name": ws.title,
                "freeze": ws.freeze_panes,
                "autofilter": ws.auto_filter.ref,
                "widths": widths(ws),
                "rows": [[cell(c) for c in row] for row in ws.iter_rows()],
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
