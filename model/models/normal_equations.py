"""The joint physics fit's normal equations JᵀJ and Jᵀr, assembled from the Jacobian's blocks.

The Jacobian of the fluorescent Kubelka–Munk fit (:mod:`model.models.fluorescent_km`) has
one row per film and band (n·31) and one column per constant (a few hundred to about
nine hundred). Almost all of it is zero: a film's reflectance at band b depends on the
constants of band b alone (k_i, s_i, the binder's K and S, the substrate and the emission
spectra at b), on a few global constants (the surface's k1, k2 and the scattering
exponents γ_i), and, for a film that holds a fluorescent colorant, on the absorption at
the excitation bands. Held dense it costs n·31·P numbers (2.2 GB for 10,000 films of 12
colorants) and its product JᵀJ costs n·31·P² operations.

Here the product is built block by block from the three kinds of derivative:

- **local** φ[b, s, p]: derivative of film s's band b in constant p of band b
  (q = 2m + 3 + f of them per band);
- **global** Γ[b, s, g]: in the surface constants and the exponents (g = 2 + m at most);
- **excitation** G_j[s, b] · W_j[s, c]: fluorescent colorant j's emission at band b moves
  with the absorption constants c = (excitation band b', colorant i or the binder); this
  is an outer product per film, so its share of JᵀJ reduces over the bands first.

JᵀJ = Σ_b φ_bᵀφ_b (31 small q × q products) + the global and excitation cross terms,
costing about n·31·q² + n_fluorescent·C² operations and n·31·(q + g) numbers of memory.
The result equals the dense product (up to the order of the floating-point sums); the
dense Jacobian stays as the reference (``_JointFit.jacobian``) and the two are compared
in tests/test_physics.py.

Reference for the normal-equation form of a Gauss–Newton/Levenberg–Marquardt step:
Nocedal, J., Wright, S. J. (2006). *Numerical Optimization*, 2nd ed., Springer, §10.3.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normal_equations"]


def normal_equations(fit, params: np.ndarray, data_residuals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """JᵀJ (P, P) and Jᵀr (P,) of the data rows of ``fit`` (a ``_JointFit``) at ``params``.

    ``data_residuals`` (n, 31) are predicted minus measured reflectance at ``params``. The
    penalty rows are not included: the caller adds their constant PᵀP and Pᵀ(P·params).
    """
    _, q = fit.forward(params, with_parts=True)
    layout, C, X, p = fit.layout, fit.C, fit.X, q["p"]
    n, m = C.shape
    n_bands = q["K"].shape[1]
    band = np.arange(n_bands)
    k1, k2, internal = q["k1"], q["k2"], q["internal"]
    d_surface = (1.0 - k1) * (1.0 - k2) / (1.0 - k2 * internal) ** 2
    gK = d_surface * (q["dK"] - X / 2.0 * q["emitted"])
    gS, gRg = d_surface * q["dS"], d_surface * q["dRg"]

    # Local derivatives φ (31, n, q) and the column each (band, p) lives in.
    local = [gK[:, :, None] * C[:, None, :], gS[:, :, None] * q["C_scattering"][:, None, :], gK[..., None], gS[..., None], gRg[..., None]]
    local += [(d_surface * q["absorbed"][:, [slot]] * q["escape"])[..., None] for slot in range(len(fit.fluorescent))]
    phi = np.ascontiguousarray(np.concatenate(local, axis=2).transpose(1, 0, 2))
    bases = [layout.slices["k"].start + i * n_bands for i in range(m)] + [layout.slices["s"].start + i * n_bands for i in range(m)]
    bases += [layout.slices[name].start for name in ("k_binder", "s_binder", "substrate")]
    bases += [layout.slices["emission"].start + slot * n_bands for slot in range(len(fit.fluorescent))]
    local_columns = np.asarray(bases)[None, :] + band[:, None]  # (31, q)

    # Global derivatives Γ (31, n, g) and their columns.
    global_parts, global_columns = [], []
    if fit.fit_surface:
        global_parts += [-(1.0 - k2) * internal / (1.0 - k2 * internal), (1.0 - k1) * internal * (internal - 1.0) / (1.0 - k2 * internal) ** 2]
        global_columns += [layout.slices["surface"].start, layout.slices["surface"].start + 1]
    if fit.fit_exponent:
        for i in range(m):
            log_c = np.log(np.where(C[:, i] > 0, C[:, i], 1.0))
            global_parts.append(gS * (q["C_scattering"][:, [i]] * log_c[:, None]) * p["s"][i][None, :])
            global_columns.append(layout.slices["s_exponent"].start + i)
    gamma = np.stack(global_parts, axis=2).transpose(1, 0, 2) if global_parts else np.zeros((n_bands, n, 0))
    global_columns = np.asarray(global_columns, dtype=int)

    residual_by_band = np.ascontiguousarray(data_residuals.T)  # (31, n)
    normal = np.zeros((layout.size, layout.size))
    gradient = np.zeros(layout.size)
    normal_local = np.matmul(phi.transpose(0, 2, 1), phi)  # (31, q, q)
    for b in range(n_bands):
        normal[np.ix_(local_columns[b], local_columns[b])] += normal_local[b]
    gradient[local_columns] += np.einsum("bsp,bs->bp", phi, residual_by_band)
    if len(global_columns):
        gamma_flat = gamma.reshape(-1, gamma.shape[2])
        normal[np.ix_(global_columns, global_columns)] += gamma_flat.T @ gamma_flat
        cross = np.matmul(phi.transpose(0, 2, 1), gamma)  # (31, q, g)
        for b in range(n_bands):
            normal[np.ix_(local_columns[b], global_columns)] += cross[b]
            normal[np.ix_(global_columns, local_columns[b])] += cross[b].T
        gradient[global_columns] += gamma_flat.T @ residual_by_band.ravel()

    if fit.fluorescent:
        _add_excitation_terms(fit, q, d_surface, phi, gamma, local_columns, global_columns, residual_by_band, normal, gradient)
    return normal, gradient


def _add_excitation_terms(fit, q, d_surface, phi, gamma, local_columns, global_columns, residual_by_band, normal, gradient) -> None:
    """Add the excitation coupling's share of JᵀJ and Jᵀr, in place (see the module notes).

    Row (s, b) holds Σ_j G_j[s, b]·W_j[s, c] in absorption column c = (b', i) for every
    excitation band b' and colorant i (or the binder, i = m). Only films that hold a
    fluorescent colorant have such a row, so only they are visited.
    """
    layout, C, X, p = fit.layout, fit.C, fit.X, q["p"]
    n, m = C.shape
    n_bands = phi.shape[0]
    K, A, exc = q["K"], q["absorptance"], fit.excitation
    excited = np.flatnonzero(exc)
    n_exc = len(excited)
    rows = np.flatnonzero(np.any(C[:, fit.fluorescent] > 0, axis=1))
    if len(rows) == 0:
        return
    C_plus = np.column_stack([C[rows], np.ones(len(rows))])  # (r, m + 1): the binder's K enters with weight 1
    h = (2.0 * X[rows] * np.exp(-2.0 * K[rows] * X[rows]) * K[rows] - A[rows]) / K[rows] ** 2
    # Columns of c = (b', i): k_i(b') for i < m, the binder's K(b') for i = m.
    columns = np.array(
        [[layout.slices["k"].start + i * n_bands + b for i in range(m)] + [layout.slices["k_binder"].start + b] for b in excited]
    ).ravel()
    G_all, W_all = [], []
    for slot, j in enumerate(fit.fluorescent):
        G_all.append(d_surface[rows] * p["emission"][slot] * q["escape"][rows])  # (r, 31): ∂R/∂a_j
        da_dK = C[rows, j][:, None] * p["k"][j][excited] * h[:, excited] / n_exc  # (r, E)
        W = da_dK[:, :, None] * C_plus[:, None, :]  # (r, E, m + 1)
        W[:, :, j] += C[rows, j][:, None] * A[rows][:, excited] / K[rows][:, excited] / n_exc  # through the share's numerator
        W_all.append(W.reshape(len(rows), -1))
    r_rows = residual_by_band[:, rows]  # (31, r)
    for a, (G_a, W_a) in enumerate(zip(G_all, W_all)):
        # excitation × excitation: Σ_s (Σ_b G_a G_b') W_aᵀ W_b'
        for b_slot in range(a, len(G_all)):
            H = np.sum(G_a * G_all[b_slot], axis=1)
            block = (W_a * H[:, None]).T @ W_all[b_slot]
            normal[np.ix_(columns, columns)] += block if b_slot == a else block + block.T
        # local × excitation, band by band: Σ_s φ[b, s, p] G_a[s, b] W_a[s, c]
        weighted = phi[:, rows, :] * G_a.T[:, :, None]  # (31, r, q)
        cross = np.matmul(weighted.transpose(0, 2, 1), W_a)  # (31, q, c)
        for b in range(n_bands):
            normal[np.ix_(local_columns[b], columns)] += cross[b]
            normal[np.ix_(columns, local_columns[b])] += cross[b].T
        if len(global_columns):
            reduced = np.einsum("bsg,sb->sg", gamma[:, rows, :], G_a)  # Σ_b Γ[b, s, g] G_a[s, b]
            block = reduced.T @ W_a
            normal[np.ix_(global_columns, columns)] += block
            normal[np.ix_(columns, global_columns)] += block.T
        gradient[columns] += W_a.T @ np.einsum("sb,bs->s", G_a, r_rows)
