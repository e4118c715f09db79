"""The page side of the one door to the champion: the verdict box, then the confirm step.

Not a page (it is not listed in ``dashboard/app.py``'s navigation). Retrain's Promote and
rollback show a :class:`model.registry.promotion.Verdict` with :func:`show_verdict` first, then
:func:`confirm_step`; the door itself (:func:`model.registry.promotion.promote`) refuses again
whatever a page forgets. After the rerun a promotion or rollback causes, :func:`show_outcome`
says what happened where the admin is looking (a toast, and a box where it is called), not
only in the sidebar.
"""

from __future__ import annotations

import streamlit as st

from model.registry.promotion import Verdict

__all__ = ["show_verdict", "confirm_step", "outcome_sentence", "remember_outcome", "show_outcome"]

#: Session key of the sentence :func:`show_outcome` shows once, on the run after the decision.
OUTCOME_KEY = "decision_outcome"

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


def outcome_sentence(serving: str, previous: str | None) -> str:
    """What a promotion or rollback did, in one sentence: "Version X now serves; Y is kept for rollback. …"."""
    kept = f"; {previous} is kept for rollback" if previous and previous != serving else ""
    return f"Version {serving} now serves{kept}. Every page uses it from its next run."


def remember_outcome(sentence: str) -> None:
    """Keep ``sentence`` for :func:`show_outcome` on the next run (the decision reruns the page)."""
    st.session_state[OUTCOME_KEY] = sentence


def show_outcome(container=st) -> None:
    """Say, once, what the last promotion or rollback did: a toast (seen wherever the page is scrolled) and a success box."""
    sentence = st.session_state.pop(OUTCOME_KEY, None)
    if sentence:
        st.toast(sentence, icon=":material/verified:")
        container.success(sentence, icon=":material/verified:")
