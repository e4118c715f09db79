"""The page side of the one door to the champion: the verdict box, then the confirm step.

Not a page (it is not listed in ``dashboard/app.py``'s navigation). Retrain's Promote and
rollback show a :class:`model.registry.promotion.Verdict` with :func:`show_verdict` first, then
:func:`confirm_step`; the door itself (:func:`model.registry.promotion.promote`) refuses again
whatever a page forgets.
"""

from __future__ import annotations

import streamlit as st

from model.registry.promotion import Verdict

__all__ = ["show_verdict", "confirm_step"]

_ICONS = {"success": ":material/verified:", "warning": ":material/warning:", "error": ":material/block:", "info": ":material/info:"}


def show_verdict(verdict: Verdict, container=st) -> None:
    """The verdict in a box whose colour matches it: green only when the version predicts better."""
    getattr(container, verdict.tone)(verdict.sentence, icon=_ICONS[verdict.tone])


def confirm_step(verdict: Verdict, key: str, what: str) -> tuple[bool, bool, str]:
    """A written reason when the verdict needs one, and a confirm box; returns (ready, confirmed, reason).

    ``what`` completes "I have read the verdict: …" (``"make v2 the champion"``). ``ready``
    (for the button) is True once the box is ticked and, where needed, a reason is written;
    ``confirmed`` (for the door) is the box alone.
    """
    reason = ""
    if verdict.needs_override:
        reason = st.text_area(
            "Why serve it anyway? Required: kept in the promotions log with your name.",
            key=f"{key}_reason",
            placeholder="e.g. the champion's data had a mislabelled batch; this model is trained without it",
        )
    confirmed = st.checkbox(f"I have read the verdict: {what}", key=f"{key}_confirm")
    return bool(confirmed and (not verdict.needs_override or reason.strip())), bool(confirmed), reason
