"""Names people give things (campaigns, wallet labels, display names) are plain, one-line text.

Control characters (a terminal escape such as ESC [ 2 J, CR/LF for forged log lines, NUL) and
the invisible text-direction controls (U+202E RIGHT-TO-LEFT OVERRIDE makes `gpj.exe` read
`exe.jpg`) are refused where a person types a name, and stripped from names that come from
the chain (a token's metadata), which nobody here can send back for correction.
"""

import unicodedata

from apps.core.errors import ValidationFailed

# Explicit embeddings, overrides and isolates, the implicit marks and Arabic letter mark.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
# Cc: C0/C1 controls and DEL; Zl/Zp: the line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def _unsafe(char: str) -> bool:
    return char in BIDI_CONTROLS or unicodedata.category(char) in _UNSAFE_CATEGORIES


def check_name(value: str, *, field: str) -> None:
    """Raise ValidationFailed on `field` if `value` holds a control or direction character."""
    bad = next((char for char in value if _unsafe(char)), None)
    if bad is not None:
        message = (
            "Remove the control or text-direction character "
            f"(U+{ord(bad):04X}): names are plain text on one line."
        )
        raise ValidationFailed(message, fields={field: [message]})


def plain_text(value: str) -> str:
    """`value` without control or direction characters (for text we cannot refuse)."""
    return "".join(char for char in value if not _unsafe(char))
