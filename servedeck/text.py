"""Makes untrusted text safe to draw: no terminal control sequences, no secrets.

Container output, job logs and error messages can carry escape sequences that would
move the cursor, retitle the terminal or worse; everything drawn goes through here.
"""

from __future__ import annotations

import re

from servedeck.secrets import redact

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte ESC sequences, C1 CSI.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
# Bidirectional embeddings, overrides, isolates and marks reorder what follows them on
# screen ("Trojan Source"): a warning could show a different text than it contains.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]")
_CONTROL_KEEP_MARKS = re.compile(f"[\\x01-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]")
# Unicode line and paragraph separators break a line like a newline does.
_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def strip_control(text: str, *, keep_sgr: bool = False) -> str:
    """Remove escape sequences (optionally keeping colour SGR ones) and control chars."""
    if keep_sgr:
        kept: list[str] = []
        text = text.replace("\x00", "")  # NUL marks the kept sequences below

        def keep(match: re.Match) -> str:
            seq = match.group(0)
            if _SGR.fullmatch(seq):
                kept.append(seq)
                return f"\x00{len(kept) - 1}\x00"
            return ""

        text = _ANSI.sub(keep, text)
        text = _CONTROL_KEEP_MARKS.sub("", text.replace("\t", "    ").replace("\u2028", " ").replace("\u2029", " "))
        return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)
    text = _ANSI.sub("", text)
    return _CONTROL.sub("", text.replace("\t", "    ").replace("\u2028", " ").replace("\u2029", " "))


def safe(value: object, limit: int = 500) -> str:
    """One value as a single safe line for a table cell or a status message."""
    text = "" if value is None else str(value)
    text = strip_control(_LINE_BREAKS.sub(" ", text))
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
