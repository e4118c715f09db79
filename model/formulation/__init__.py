"""Inverse formulation: recipes whose predicted colour matches a target colour or spectrum.

::

    from model.formulation import Constraints, Target, formulate
    result = formulate(model, Target.from_hex("#9fc24a"), Constraints(max_total=20))
    result.best.recipe, result.best.delta_e00, result.explanation

The implementation is split by stage: :mod:`~model.formulation.target` (what to match),
:mod:`~model.formulation.constraints` (what may be used), :mod:`~model.formulation.optimise`
(the search), :mod:`~model.formulation.explain` (scores and shortfalls in words) and
:mod:`~model.formulation.result` (what is returned). The pasted-spectrum parser lives in
:mod:`model.io.spectrum_text` and is re-exported here for the Formulate page.

Scales: concentrations in wt % (0–100), thickness in µm, reflectance factor 0–1,
L* 0–100, ΔE00 in CIEDE2000 units.
"""

from model.formulation.constraints import Constraints
from model.formulation.experiment_plan import ExperimentPlan, Suggestion
from model.formulation.experiments import plan_experiments
from model.formulation.optimise import FormulationCancelled, formulate
from model.formulation.result import (
    METAMERISM_ILLUMINANTS,
    REACHED_DELTA_E00,
    RISKY_PATH_DISAGREEMENT,
    RISKY_UNCERTAINTY,
    Candidate,
    FormulationResult,
    safest_first,
)
from model.formulation.target import Target
from model.io.spectrum_text import SpectrumParseError, parse_spectrum

__all__ = [
    "METAMERISM_ILLUMINANTS",
    "REACHED_DELTA_E00",
    "RISKY_PATH_DISAGREEMENT",
    "RISKY_UNCERTAINTY",
    "Candidate",
    "Constraints",
    "ExperimentPlan",
    "FormulationCancelled",
    "FormulationResult",
    "SpectrumParseError",
    "Suggestion",
    "Target",
    "formulate",
    "parse_spectrum",
    "plan_experiments",
    "safest_first",
]
