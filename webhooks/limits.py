"""Pure limits on what the receiver reads: body size and JSON nesting, checked before parsing.

A JSON body nested deeper than Python's recursion limit makes `json.loads` raise
`RecursionError`; the receiver measures the nesting on the raw bytes first, without
recursion, and refuses the body with a clear status instead.
"""

from __future__ import annotations

MAX_BODY_BYTES = 2 * 1024 * 1024
"""Label Studio's webhook bodies carry the project, the task and the annotation: a few KB,
more with inline images in the task data."""
MAX_DEPTH = 64
"""Label Studio's webhook bodies nest about 6 levels; task data adds its own."""

_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE = ord('"')
_BACKSLASH = ord("\\")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit`.

    Brackets inside strings do not count. The text need not be valid JSON: a broken
    body that is not too deep is left to the parser to refuse.

    Args:
        body: the raw request body.
        limit: the deepest nesting allowed.

    Returns:
        True as soon as the nesting passes the limit.
    """
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False
