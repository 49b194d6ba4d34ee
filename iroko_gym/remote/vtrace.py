"""V-trace targets (Espeholt et al. 2018, "IMPALA", section 4.1) for one trajectory.

Trajectories collected with an older version of the policy (the behaviour policy ``mu``) are
corrected towards the current one (``pi``) with truncated importance weights instead of being
dropped. With ``rho_t = min(rho_bar, pi/mu)`` and ``c_t = lam * min(c_bar, pi/mu)``::

    delta_t = rho_t * (r_t + gamma * V(x_{t+1}) - V(x_t))
    v_t     = V(x_t) + delta_t + gamma * c_t * (v_{t+1} - V(x_{t+1}))
    A_t     = rho_t * (r_t + gamma * v_{t+1} - V(x_t))          (policy-gradient advantage)

``v_t`` is the critic's target. On-policy (``pi == mu``) with ``lam = 1`` it is the n-step
discounted return; ``lam`` is the paper's remark 2 (``c_t = lam * min(c_bar, pi/mu)``), which
makes ``v_t - V(x_t)`` equal to GAE(lam) when on-policy. Pure numpy, float64 accumulation.
"""

from __future__ import annotations

import numpy as np


def vtrace(values: np.ndarray, bootstrap: float, rewards: np.ndarray, log_rhos: np.ndarray,
           *, gamma: float, lam: float = 1.0, rho_bar: float = 1.0,
           c_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(v, A)``: V-trace value targets and policy-gradient advantages, one per step.

    ``values`` are the critic's V(x_t); ``bootstrap`` is V(x_T) after the last step (0 when
    the trajectory terminated); ``log_rhos`` are log pi(a_t|x_t) - log mu(a_t|x_t).
    """
    values = np.asarray(values, np.float64)
    rewards = np.asarray(rewards, np.float64)
    ratios = np.exp(np.asarray(log_rhos, np.float64))
    rho = np.minimum(rho_bar, ratios)
    c = lam * np.minimum(c_bar, ratios)
    next_values = np.append(values[1:], bootstrap)
    deltas = rho * (rewards + gamma * next_values - values)
    corrections = np.empty_like(values)
    running = 0.0
    for t in range(len(values) - 1, -1, -1):
        running = deltas[t] + gamma * c[t] * running
        corrections[t] = running
    targets = values + corrections
    next_targets = np.append(targets[1:], bootstrap)
    advantages = rho * (rewards + gamma * next_targets - values)
    return targets.astype(np.float32), advantages.astype(np.float32)
