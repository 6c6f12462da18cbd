"""Results as HTML, for Jupyter: what ``_repr_html_`` of every result shows.

The HTML says what the text report says: the verdict and settings first, then
the per-tensor table, worst first (WRONG, then unsure, then by difference),
capped at ``REPORT_ROWS`` rows like the text report, with WRONG rows marked.
Every text that comes from the user (tensor names, notes quoting their code)
is escaped. It takes the report's lines and rows of strings, never a result:
the results (``fastcheck.report.result``) cut their rows.
"""

from html import escape

#: Inline styles: a notebook shows a result's HTML without any stylesheet of ours.
_WRONG = "background-color: rgba(220, 50, 47, 0.15); font-weight: bold"
_VERDICT = {"PASSED": "color: #1a7f37", "FAILED": "color: #cf222e"}
_CELL = "text-align: left; padding: 1px 8px"


def report_html(head, header, cells, marked=(), footer=None):
    """A report as one HTML ``<div>``.

    ``head`` is the text report's first lines (verdict line first, then
    settings, advice and notes); ``header`` the column names; ``cells`` a list
    of rows, each a tuple of strings as long as ``header``; ``marked`` the
    positions in ``cells`` of the rows to mark (WRONG); ``footer`` a line said
    after the table (the rows left out), or None.
    """
    # "fastcheck PASSED: ...", "fastcheck.locate FAILED: ...": the word before the colon.
    said = head[0].split(":")[0].split()
    colour = next((style for word, style in _VERDICT.items() if word in said), "")
    parts = ['<div class="fastcheck-report">',
             f'<p style="margin: 0"><strong style="{colour}">{escape(head[0])}</strong></p>']
    if len(head) > 1:
        parts.append('<pre style="margin: 0.2em 0; white-space: pre-wrap">'
                     + escape("\n".join(line.strip() for line in head[1:])) + "</pre>")
    parts.append(table_html(header, cells, marked))
    if footer:
        parts.append(f'<p style="margin: 0">{escape(footer)}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def table_html(header, cells, marked=()):
    """An HTML ``<table>`` of ``cells`` (rows of strings) under ``header``; the rows
    at positions ``marked`` carry the class ``fastcheck-wrong`` and a red tint."""
    marked = set(int(k) for k in marked)
    lines = ['<table class="fastcheck-table" style="font-family: monospace">', "<thead><tr>"
             + "".join(f'<th style="{_CELL}">{escape(name)}</th>' for name in header)
             + "</tr></thead>", "<tbody>"]
    for k, row in enumerate(cells):
        style = f' class="fastcheck-wrong" style="{_WRONG}"' if k in marked else ""
        lines.append(f"<tr{style}>" + "".join(f'<td style="{_CELL}">{escape(cell)}</td>'
                                              for cell in row) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)
