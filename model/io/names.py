"""How measured names and recipe ids are compared, and the near misses offered for a name.

Names are compared ignoring case, spaces, ``_`` and ``-`` (:func:`name_key`). A name that
matches no recipe id may be a near miss of exactly one (:class:`RecipeFinder`): look-alike
characters, or leading letters or zeros dropped. :func:`near_miss` offers the one name a
person most likely meant, for a "did you mean" hint.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence

__all__ = ["ACCEPTED", "DUPLICATE", "MATCHED", "SUGGESTED", "SUSPECT", "UNMATCHED", "RecipeFinder", "name_key", "near_miss"]

#: What :meth:`RecipeFinder.find` made of a name (and the statuses of a match report's rows).
MATCHED = "matched"
ACCEPTED = "accepted suggestion"
SUGGESTED = "suggested"
UNMATCHED = "unmatched"
DUPLICATE = "duplicate"
SUSPECT = "suspect"

_SEPARATORS = re.compile(r"[\s_\-]+")


def name_key(name: str) -> str:
    """How sample and recipe names are compared: case, spaces, '_' and '-' ignored.

    ``PBLUE_1`` and ``PBLUE1``, ``OPTI 6`` and ``OPTI6`` give the same key.
    """
    return _SEPARATORS.sub("", name).casefold()


def near_miss(name: str, candidates: Sequence[str]) -> str | None:
    """The one candidate ``name`` most likely meant, or None: for a "did you mean" hint.

    In order, the first rule that finds exactly one candidate decides: the same name once
    case, spaces, ``_`` and ``-`` are ignored (``fluoyellow`` → ``FluoYellow``); the near
    misses :class:`RecipeFinder` offers (look-alike characters, leading letters or zeros);
    a close spelling (:func:`difflib.get_close_matches` of the keys, ratio ≥ 0.8:
    ``FluoYelow`` → ``FluoYellow``).

    Examples
    --------
    >>> near_miss("fluo_yellow", ["FluoYellow", "PearlBlue"])
    'FluoYellow'
    >>> near_miss("TitaniumWhite", ["FluoYellow", "PearlBlue"]) is None
    True
    """
    found, status, _ = RecipeFinder(candidates).find(name)
    if found is not None and status in (MATCHED, SUGGESTED):
        return found
    by_key = {name_key(candidate): candidate for candidate in candidates}
    close = difflib.get_close_matches(name_key(name), list(by_key), n=2, cutoff=0.8)
    return by_key[close[0]] if len(close) == 1 else None


# Characters that are easily typed or read for one another in sample names.
_LOOKALIKE = str.maketrans({"o": "0", "l": "1", "i": "1", "s": "5"})


def _lookalike_key(key: str) -> str:
    return key.translate(_LOOKALIKE)


class RecipeFinder:
    """Finds the recipe a measured base name refers to, exactly or as a near miss.

    A near miss is offered only when one recipe qualifies; the tests run in order and the
    first that finds any candidate decides:

    1. look-alike characters: 0/O, 1/I/l, 5/S (``BiVaO5`` ↔ ``BiVa05``);
    2. truncation: one name is the other with leading letters or zeros dropped
       (``52C`` ↔ ``F052C``).
    """

    def __init__(self, recipe_ids: Sequence[str]) -> None:
        self.ids_by_key: dict[str, list[str]] = defaultdict(list)
        self.ids_by_lookalike: dict[str, list[str]] = defaultdict(list)
        for recipe_id in recipe_ids:
            key = name_key(recipe_id)
            self.ids_by_key[key].append(recipe_id)
            self.ids_by_lookalike[_lookalike_key(key)].append(recipe_id)
        # Truncations are looked up, not searched for: each key under every shorter key it
        # is a truncation of, so a measured name costs the same however many recipes there are.
        self._key_order = {key: order for order, key in enumerate(self.ids_by_key)}
        self._longer_keys: dict[str, list[str]] = defaultdict(list)
        for key in self.ids_by_key:
            for short in _truncations(key):
                self._longer_keys[short].append(key)

    def find(self, base: str) -> tuple[str | None, str, str]:
        """``(recipe id or None, status, reason)`` for a measured base name."""
        key = name_key(base)
        exact = self.ids_by_key.get(key, [])
        if len(exact) == 1:
            same = "same name" if exact[0] == base else "same name once case, spaces, '_' and '-' are ignored"
            return exact[0], MATCHED, same
        if len(exact) > 1:
            return None, UNMATCHED, f"several recipes share this name ({', '.join(exact)}); rename all but one."

        near_misses = [
            (
                self.ids_by_lookalike.get(_lookalike_key(key), []),
                "{base!r} and {recipe!r} differ only in look-alike characters (0/O, 1/I/l, 5/S)",
            ),
            (
                self._truncation_candidates(key),
                "{base!r} and {recipe!r} differ only by leading letters or zeros",
            ),
        ]
        for candidates, reason in near_misses:
            if len(candidates) == 1:
                return candidates[0], SUGGESTED, reason.format(base=base, recipe=candidates[0])
            if len(candidates) > 1:
                close = ", ".join(candidates)
                return None, UNMATCHED, f"no recipe named {base!r}; several are close ({close}), so none is suggested."
        return None, UNMATCHED, f"no recipe named {base!r} or spelled alike in the recipe table."

    def _truncation_candidates(self, key: str) -> list[str]:
        """Recipe ids whose key is ``key`` with leading letters or zeros added or dropped, in table order."""
        keys = [short for short in _truncations(key) if short in self.ids_by_key] + self._longer_keys.get(key, [])
        return [recipe_id for found in sorted(set(keys), key=self._key_order.__getitem__) for recipe_id in self.ids_by_key[found]]


def _truncations(key: str) -> list[str]:
    """The shorter keys ``key`` truncates to: ``key`` without 1, 2, … of its leading letters
    or zeros, never all of it (``f052c`` → ``052c``, ``52c``)."""
    lead = len(key) - len(key.lstrip(_TRUNCATABLE))
    return [key[cut:] for cut in range(1, min(lead, len(key) - 1) + 1)]


_TRUNCATABLE = "abcdefghijklmnopqrstuvwxyz0"
