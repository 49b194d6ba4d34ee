"""lfns from a trace's tokens, and the sidecar's tokeniser recovering the same token ids."""

from __future__ import annotations

import numpy as np
import pytest

from iroko_gym.cache.pipeline import Vocabulary
from iroko_gym.cache.trace import Trace, default_trace_path, load_trace
from iroko_gym.errors import TraceError
from iroko_gym.xcache.naming import Tokeniser, load_vocab, spell_id, trace_lfns


def _trace(tokens: list[list[int]], fids: list[int]) -> Trace:
    n = len(fids)
    return Trace(time=np.arange(n), tokens=np.array(tokens, dtype=np.int64), kb=np.ones(n, dtype=np.int64),
                 fid=np.array(fids, dtype=np.int64))


def test_the_tokeniser_recovers_every_token_of_the_bundled_trace() -> None:
    trace = load_trace()
    vocab = load_vocab(default_trace_path())
    lfns = trace_lfns(trace, vocab)
    tokeniser = Tokeniser(vocab)
    got = np.stack([tokeniser.tokens(lfn) for lfn in lfns])
    np.testing.assert_array_equal(got, trace.tokens)
    assert len(set(lfns)) == len(np.unique(trace.fid))


def test_without_a_vocabulary_tokens_are_spelled_and_numbered_by_first_appearance() -> None:
    trace = _trace([[3, 1, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0], [3, 1, 0, 0, 0, 0]], [7, 8, 7])
    lfns = trace_lfns(trace, None)
    assert lfns[0] == "/tokd/tokd.tokb/f7.root" and lfns[0] == lfns[2]
    added: list[tuple[str, int]] = []
    tokeniser = Tokeniser(on_new=lambda token, tid: added.append((token, tid)))
    assert tokeniser.tokens(lfns[0]).tolist() == [1, 2, 0, 0, 0, 0]
    assert lfns[1] == "/tokc/tokc.x/f8.root"
    assert tokeniser.tokens(lfns[1]).tolist() == [3, 0, 0, 0, 0, 0]
    assert added == [("tokd", 1), ("tokb", 2), ("tokc", 3)]


def test_spelled_ids_are_distinct() -> None:
    assert len({spell_id(i) for i in range(2000)}) == 2000


@pytest.mark.faults
def test_a_file_id_whose_tokens_change_is_refused() -> None:
    with pytest.raises(TraceError, match="file id 7"):
        trace_lfns(_trace([[1, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]], [7, 7]), None)


@pytest.mark.faults
def test_an_empty_token_before_a_used_one_is_refused() -> None:
    with pytest.raises(TraceError, match="scope"):
        trace_lfns(_trace([[1, 0, 2, 0, 0, 0]], [1]), None)


@pytest.mark.faults
def test_a_vocabulary_token_that_does_not_survive_tokenising_is_refused() -> None:
    vocab = Vocabulary({"scope": 1, "r1234": 2})  # a production tag: the pipeline drops it
    with pytest.raises(TraceError, match="do not survive"):
        trace_lfns(_trace([[1, 2, 0, 0, 0, 0]], [1]), vocab)
