"""Reward modes of the caching environments: pure functions registered by name.

Every function takes ``(shown_kb, shown_hit, shown_reused, mark, next_kb, next_hit, hit_cost)``:
the access the action was about (the one shown before ``step``: its size, whether it was a hit,
whether its file is read again later in the trace), the agent's keep mark (0/1), and the access
that ``step`` then looked up (the one in the returned observation).  Sizes are in kB; the
environment scales the result (see :data:`KB_REWARDS` and docs/cache.md).
"""

from __future__ import annotations

from typing import Callable

from iroko_gym.validate import check_choice

RewardFn = Callable[[int, bool, bool, int, int, bool, float], float]


def guess_reward(shown_kb: int, shown_hit: bool, shown_reused: bool, mark: int, next_kb: int, next_hit: bool,
                 hit_cost: float) -> float:
    """gym-cache 1.0.3: +size of the shown file when the mark equals its hit (1) / miss (0), else -size."""
    return float(shown_kb) if shown_hit == (mark == 1) else -float(shown_kb)


def cost_reward(shown_kb: int, shown_hit: bool, shown_reused: bool, mark: int, next_kb: int, next_hit: bool,
                hit_cost: float) -> float:
    """Always <= 0: minus the fetch cost of the next access, ``hit_cost`` times smaller on a hit."""
    return -next_kb * hit_cost if next_hit else -float(next_kb)


def hit_reward(shown_kb: int, shown_hit: bool, shown_reused: bool, mark: int, next_kb: int, next_hit: bool,
               hit_cost: float) -> float:
    """The cache's outcome: 1 when the access looked up by this step is a hit, else 0."""
    return 1.0 if next_hit else 0.0


def byte_hit_reward(shown_kb: int, shown_hit: bool, shown_reused: bool, mark: int, next_kb: int, next_hit: bool,
                    hit_cost: float) -> float:
    """The cache's outcome in bytes: the size of the access looked up when it is a hit, else 0."""
    return float(next_kb) if next_hit else 0.0


def reuse_reward(shown_kb: int, shown_hit: bool, shown_reused: bool, mark: int, next_kb: int, next_hit: bool,
                 hit_cost: float) -> float:
    """Hindsight from the trace: +1 when the mark says whether the shown file is read again, else -1.

    Keeping exactly the files that are read again reaches Belady's hit rate on the mark core when
    the cache holds the reused files; this is a per-decision training signal (offline traces only).
    """
    return 1.0 if shown_reused == (mark == 1) else -1.0


REWARDS: dict[str, RewardFn] = {
    "guess": guess_reward, "cost": cost_reward, "hit": hit_reward, "byte_hit": byte_hit_reward, "reuse": reuse_reward,
}
# rewards in kB: `normalize_reward` divides guess/cost by the largest file; byte_hit is always in mean file sizes
KB_REWARDS = frozenset({"guess", "cost"})


def get_reward(name: str) -> RewardFn:
    """The reward function called ``name``; unknown names get a "did you mean" error."""
    return REWARDS[check_choice("reward_mode", name, REWARDS)]
