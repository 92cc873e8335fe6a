"""Where a request may send the browser next: a path on this site, nothing else (R48).

A redirect target from a request parameter is read the way a browser will
read it (WHATWG URL parsing) before it is judged, so that nothing the browser
drops or rewrites (a tab, a newline, a backslash) can turn a path into
another site's address.
"""

from __future__ import annotations

import unicodedata

#: What a browser strips from both ends of a URL: C0 controls and the space.
_ENDS = "".join(map(chr, range(0x21)))
#: What a browser removes anywhere in a URL: tab, line feed, carriage return.
_DROPPED = {ord("\t"): None, ord("\n"): None, ord("\r"): None}
#: Control, format (bidi overrides), surrogate and line/paragraph separator characters.
_INVISIBLE = {"Cc", "Cf", "Cs", "Zl", "Zp"}
#: Longer targets are refused: no page of the demo needs one, and it keeps headers small.
MAX_LENGTH = 2048


def same_site_path(target: str | None) -> str | None:
    """``target`` as a browser would read it, if that is a path on this site; else None.

    Accepted: ``/account``, ``/user/getSession?x=1``. Refused: anything with a
    scheme (``https:``, ``javascript:``), a host (``//evil``, ``/\\evil``,
    ``/<tab>/evil``), an invisible character left after the browser's clean-up,
    or more than :data:`MAX_LENGTH` characters.
    """
    if not target or len(target) > MAX_LENGTH:
        return None
    # http(s) URLs: backslashes are slashes, tabs/newlines vanish, ends are trimmed.
    path = target.strip(_ENDS).translate(_DROPPED).replace("\\", "/")
    if not path.startswith("/") or path.startswith("//"):
        return None
    if any(unicodedata.category(c) in _INVISIBLE for c in path):
        return None
    return path
