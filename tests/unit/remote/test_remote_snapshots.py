"""Snapshots are immutable; diffs are exact, minimal and never empty when weights changed."""

from __future__ import annotations

import numpy as np
import pytest

from iroko_gym.errors import RemoteError
from iroko_gym.remote.snapshots import ModelSnapshot, VersionHistory, apply_update, update_message


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"q.0.weight": rng.standard_normal((64, 8)).astype(np.float32),
            "q.0.bias": rng.standard_normal(64).astype(np.float32)}


def test_snapshots_are_read_only_copies():
    source = weights()
    snap = ModelSnapshot.freeze(1, source, {"epsilon": 0.5})
    source["q.0.bias"][0] = 99.0
    assert snap.tensors["q.0.bias"][0] != 99.0
    with pytest.raises(ValueError):
        snap.tensors["q.0.bias"][0] = 1.0
    with pytest.raises(TypeError):
        snap.scalars["epsilon"] = 0.1  # type: ignore[index]


def test_sparse_change_is_sent_as_indices_and_applies_bit_exactly():
    old = ModelSnapshot.freeze(1, weights())
    changed = {k: v.copy() for k, v in old.tensors.items()}
    changed["q.0.weight"][3, 5] = np.nextafter(changed["q.0.weight"][3, 5], np.float32(9))
    changed["q.0.weight"][10, 0] = -0.0 if changed["q.0.weight"][10, 0] == 0 else 0.0
    new = ModelSnapshot.freeze(2, changed, {"epsilon": 0.4})
    msg = update_message(new, old)
    assert not msg.full and msg.base_version == 1
    assert set(msg.sparse) == {"q.0.weight"} and not msg.tensors
    assert list(np.frombuffer(msg.sparse["q.0.weight"].indices.data, np.int64)) == [3 * 8 + 5, 80]
    result = apply_update(old, msg)
    assert result.version == 2 and dict(result.scalars) == {"epsilon": 0.4}
    for name in new.tensors:
        assert np.array_equal(result.tensors[name].view(np.uint32), new.tensors[name].view(np.uint32))


def test_dense_change_sends_whole_tensors_and_unchanged_tensors_are_omitted():
    old = ModelSnapshot.freeze(1, weights())
    changed = dict(old.tensors)
    changed["q.0.weight"] = old.tensors["q.0.weight"] + 1.0
    msg = update_message(ModelSnapshot.freeze(2, changed), old)
    assert set(msg.tensors) == {"q.0.weight"} and not msg.sparse


def test_diff_of_identical_weights_is_empty_but_still_advances_the_version():
    old = ModelSnapshot.freeze(1, weights())
    msg = update_message(ModelSnapshot.freeze(2, old.tensors), old)
    assert not msg.tensors and not msg.sparse
    assert apply_update(old, msg).version == 2


def test_diff_on_the_wrong_base_is_refused():
    old = ModelSnapshot.freeze(1, weights())
    msg = update_message(ModelSnapshot.freeze(3, weights(1)), ModelSnapshot.freeze(2, weights(2)))
    with pytest.raises(RemoteError, match="based on 2, but the client holds 1"):
        apply_update(old, msg)


def test_history_serves_diffs_for_kept_versions_and_full_models_beyond():
    history = VersionHistory(keep=3)
    for seed in range(5):
        history.publish(weights(seed), {})
    assert history.latest.version == 5 and history.get(2) is None
    assert history.update_for(5) is None
    assert history.update_for(4).base_version == 4 and not history.update_for(4).full
    assert history.update_for(2).full  # too far behind: the full model
    assert history.update_for(0).full
    assert history.update_for(9).full  # ahead (the server restarted from an older checkpoint)
    with pytest.raises(RemoteError, match="not newer"):
        history.publish(weights(), {}, version=5)
