"""What every page says while the champion is trained on the synthetic demo.

A fresh install serves a model trained on the shipped demo data: measurements simulated
by Huecast's own physics (:mod:`model.simulate`) for made-up colorants (FluoYellow,
BiVaYellow …), so that the app works before the lab uploads anything. A reader must not
take its colours or its accuracy for the lab's, so the pages say so in their main area,
and the Batch page explains a lab's recipe table that does not fit instead of suggesting
to rename the lab's colorants after the demo's.
"""

from __future__ import annotations

from collections.abc import Sequence


__all__ = ["DEMO_NOTICE", "DEMO_ACCURACY_CAVEAT", "demo_colorants_note", "RETRAIN_LINK_LABEL"]

#: One sentence for the top of every page's main area; the page adds a link to Retrain.
DEMO_NOTICE = (
    "This is the demo model: it was trained on simulated measurements of made-up colorants "
    "(the synthetic demo), not on your lab's, so its colours show how Huecast works, not how your inks look."
)
#: The caveat beside an accuracy headline of a demo model (Overview's, the report's).
DEMO_ACCURACY_CAVEAT = (
    "These figures are for the synthetic demo: its measurements were simulated, so they show how "
    "Huecast reports accuracy, not how accurate it is on your lab's inks."
)
#: The label of the link to the Retrain page beside :data:`DEMO_NOTICE`.
RETRAIN_LINK_LABEL = "Retrain on your lab's measurements"


def demo_colorants_note(colorants: Sequence[str]) -> str:
    """Why a lab's recipe table does not fit the demo model, and what to do instead of renaming columns.

    Parameters
    ----------
    colorants : the demo model's colorants, in its input order.

    Examples
    --------
    >>> demo_colorants_note(["FluoYellow", "PG"])[:60]
    'The model in use is the demo model: its colorants (FluoYello'
    """
    return (
        f"The model in use is the demo model: its colorants ({', '.join(colorants)}) are made up for the "
        "simulated demo data and are not your lab's, so do not rename your columns to fit them. "
        "Retrain trains a model on your lab's own measurements (the instrument export and its recipe table); "
        "that model knows your colorants by the names your recipe table gives them, and this file can then be predicted."
    )
