"""Reward modes of the caching environments: pure functions registered by name.

Every function takes ``(shown_kb, shown_hit, mark, next_kb, next_hit, hit_cost)``: the access the
action was about (the one shown before ``step``), the agent's keep mark (0/1), and the access that
``step`` then looked up (the one in the returned observation).
"""

from __future__ import annotations

from typing import Callable

from iroko_gym.validate import check_choice

RewardFn = Callable[[int, bool, int, int, bool, float], float]


def guess_reward(shown_kb: int, shown_hit: bool, mark: int, next_kb: int, next_hit: bool, hit_cost: float) -> float:
    """gym-cache 1.0.3: +size of the shown file when the mark equals its hit (1) / miss (0), else -size."""
    return float(shown_kb) if shown_hit == (mark == 1) else -float(shown_kb)


def cost_reward(shown_kb: int, shown_hit: bool, mark: int, next_kb: int, next_hit: bool, hit_cost: float) -> float:
    """Always <= 0: minus the fetch cost of the next access, ``hit_cost`` times smaller on a hit."""
    return -next_kb * hit_cost if next_hit else -float(next_kb)


REWARDS: dict[str, RewardFn] = {"guess": guess_reward, "cost": cost_reward}


def get_reward(name: str) -> RewardFn:
    """The reward function called ``name``; unknown names get a "did you mean" error."""
    return REWARDS[check_choice("reward_mode", name, REWARDS)]
