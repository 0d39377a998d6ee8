"""One-line errors for a user's own code that failed (a model file, a factory, a forward pass): whatever it
raised, ``sys.exit`` included, becomes an :class:`EdgeSDKError` naming what was called."""

from __future__ import annotations

from edge_sdk.errors import EdgeSDKError


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}" if text else type(e).__name__


def _user_code_error(what: str, e: BaseException) -> EdgeSDKError:
    """A user module or factory failed: one line naming it, whatever it raised (sys.exit included)."""
    if isinstance(e, SystemExit):
        return EdgeSDKError(f"{what} called sys.exit({e.code!r}); a model file must not exit the program")
    return EdgeSDKError(f"{what} failed: {_first_line(e)}")
