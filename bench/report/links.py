"""Links from a page to each study's own report (``fmbench trend --reports-base URL``), checked and escaped.

Light on purpose (the standard library only): the CLI checks ``--reports-base`` before any work.

A base URL may hold the placeholders ``{commit}``, ``{short}`` (7 hex digits), ``{study}`` and ``{branch}``;
without any, the link is ``URL/<commit>/report.html`` (where ``fmbench report --out reports/<commit>`` puts
it). Every value is percent-encoded, so a study or branch name can neither leave its path segment nor add a
query. Only ``http:``/``https:`` URLs and relative ones (no scheme, no host) are accepted: a ``javascript:``,
``data:`` or ``file:`` link, or ``//host`` and ``\\\\host`` (which browsers read as another host), is bad input.
The page's own escaping (Jinja's autoescape) then covers the attribute.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from bench.errors import BenchError

PLACEHOLDERS = ("commit", "short", "study", "branch")
SCHEMES = ("http", "https")
FIX = ("pass an http(s) URL or a relative path, e.g. https://ci.example.com/reports or "
       "'../studies/{study}/report.html' (placeholders: {commit}, {short}, {study}, {branch})")


def check_reports_base(base: str | None) -> str | None:
    """``base`` if it makes safe links, else a BenchError naming it (exit 2)."""
    if base is None:
        return None
    unknown = [name for name in re.findall(r"\{([^{}]*)\}", base) if name not in PLACEHOLDERS]
    if unknown:
        raise BenchError(f"--reports-base has an unknown placeholder {{{unknown[0]}}}", value=base, fix=FIX)
    probe = re.sub(r"\{[^{}]*\}", "x", base)
    if not probe.strip() or re.search(r"[\s\x00-\x1f\x7f\\{}]", probe):
        raise BenchError("--reports-base must be a URL without spaces, control characters, backslashes or stray "
                         "braces", value=base, fix=FIX)
    parts = urlsplit(probe)
    if parts.scheme and parts.scheme.lower() not in SCHEMES:
        raise BenchError(f"--reports-base may only link over http or https, not {parts.scheme}:", value=base,
                         fix=FIX)
    if parts.scheme and not parts.netloc:
        raise BenchError("--reports-base names no host", value=base, fix=FIX)
    if not parts.scheme and (parts.netloc or probe.startswith("//")):
        raise BenchError("--reports-base starts with // (another host, whatever the page's scheme)", value=base,
                         fix=FIX)
    return base


def report_link(base: str | None, commit: str, study: str, branch: str | None = None) -> str | None:
    """The link to one study's report, or None without ``--reports-base``."""
    if base is None:
        return None
    values = {"commit": commit, "short": commit[:7], "study": study, "branch": branch or ""}
    if not any(f"{{{name}}}" in base for name in PLACEHOLDERS):
        base = base.rstrip("/") + "/{commit}/report.html"
    return re.sub(r"\{(" + "|".join(PLACEHOLDERS) + r")\}", lambda m: quote(values[m.group(1)], safe=""), base)
