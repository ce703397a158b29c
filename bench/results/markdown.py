"""Text in a Markdown table cell (the job summaries of ``bench results`` and ``bench compare``)."""

from __future__ import annotations

import html


def cell(text: object) -> str:
    """``text`` safe inside one cell of a Markdown table row: HTML escaped (``<``, ``>``, ``&``),
    ``|`` escaped, and line breaks and other control characters shown as ``\\n``-style escapes, so
    that a model or device name can neither end the row nor inject markup."""
    value = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return html.escape(value, quote=False).replace("|", "\\|")
