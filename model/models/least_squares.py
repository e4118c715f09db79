"""Bounded nonlinear least squares for the physics fit: a projected Levenberg–Marquardt.

Kept apart from the film model (:mod:`model.models.fluorescent_km`) because it knows
nothing of films: residuals and their Jacobian in, the bounded minimiser out.

Reference: Kanzow, C., Yamashita, N., Fukushima, M. (2004). Levenberg–Marquardt methods
with strong local convergence properties for solving nonlinear equations with convex
constraints. *J. Comput. Appl. Math.* 172(2), 375–397.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, sparse

__all__ = ["projected_levenberg_marquardt"]


def projected_levenberg_marquardt(
    residuals, jacobian, start, lower, upper, *, max_iter: int = 200, rtol: float = 1e-7, normal_equations=None
) -> tuple[np.ndarray, int]:
    """Minimise ½‖residuals(x)‖² subject to lower ≤ x ≤ upper.

    Each step solves the damped normal equations (JᵀJ + μ·diag(JᵀJ)) δ = −Jᵀr over the
    free variables only (a variable at a bound whose gradient pushes it outwards is held),
    then projects x + δ onto the box; μ falls after a step that lowers the cost and rises
    until one does. Stops when a step lowers the cost by less than ``rtol`` relative, or
    after ``max_iter`` Jacobians. Returns the solution and the number of Jacobians used.

    ``normal_equations(x, r)``, when given, returns (JᵀJ, Jᵀr) directly and ``jacobian`` is
    not called: a problem whose Jacobian is mostly zero can build the products from its
    blocks without holding J (see :mod:`model.models.normal_equations`).
    """
    x = np.clip(np.asarray(start, dtype=float), lower, upper)
    r = residuals(x)
    cost, damping = 0.5 * r @ r, 1e-2
    for iteration in range(1, max_iter + 1):
        if normal_equations is not None:
            normal, gradient = normal_equations(x, r)
        else:
            J = jacobian(x)
            normal, gradient = (J.T @ J), J.T @ r
        normal = normal.toarray() if sparse.issparse(normal) else np.asarray(normal)
        held = ((x <= lower) & (gradient > 0)) | ((x >= upper) & (gradient < 0))
        free = np.flatnonzero(~held)
        block, scale = normal[np.ix_(free, free)], np.maximum(np.diag(normal)[free], 1e-12)
        while True:
            try:
                step = linalg.cho_solve(linalg.cho_factor(block + damping * np.diag(scale)), -gradient[free])
            except linalg.LinAlgError:
                damping *= 10.0
                continue
            trial = x.copy()
            trial[free] += step
            trial = np.clip(trial, lower, upper)
            r_trial = residuals(trial)
            cost_trial = 0.5 * r_trial @ r_trial
            if cost_trial < cost:
                gain = (cost - cost_trial) / cost
                x, r, cost, damping = trial, r_trial, cost_trial, max(damping / 5.0, 1e-12)
                break
            damping *= 5.0
            if damping > 1e10:  # no step lowers the cost: a (bounded) minimum
                return x, iteration
        if gain < rtol:
            return x, iteration
    return x, max_iter
