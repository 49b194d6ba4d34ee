"""File names of the live cache: from a trace's tokens to an lfn, and from an lfn back to tokens.

The load generator names each file ``/<scope>/<scope>.<token 2>.….<token 6>/f<file id>.root``
(the tokens spelled with the trace's vocabulary), so that the sidecar's tokeniser — the
pipeline's own :func:`~iroko_gym.cache.pipeline.dataset_tokens` and vocabulary — recovers the
six token ids of the offline trace.  Tokens without a vocabulary entry are spelled ``tok`` +
letters (``tokbc``), which the pipeline's filter keeps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from iroko_gym.cache.pipeline import Vocabulary, dataset_tokens
from iroko_gym.cache.trace import TOKEN_COLUMNS, Trace
from iroko_gym.errors import TraceError
from iroko_gym.xcache.records import MalformedPacket, check_lfn

log = logging.getLogger(__name__)


def spell_id(tid: int) -> str:
    """A token name for an id that has no vocabulary entry: ``tok`` + the id in letters a-z."""
    letters = ""
    n = tid
    while True:
        n, r = divmod(n, 26)
        letters = chr(ord("a") + r) + letters
        if n == 0:
            return "tok" + letters


def trace_lfns(trace: Trace, vocab: Vocabulary | None) -> list[str]:
    """One lfn per access of ``trace``; a file id must keep its tokens (the lfn names the file)."""
    names = {tid: token for token, tid in (vocab.ids.items() if vocab else ())}
    by_fid: dict[int, tuple[int, ...]] = {}
    lfns: dict[tuple[int, tuple[int, ...]], str] = {}
    out = []
    for row, (fid, tokens) in enumerate(zip(trace.fid.tolist(), map(tuple, trace.tokens.tolist()), strict=True)):
        seen = by_fid.setdefault(fid, tokens)
        if seen != tokens:
            raise TraceError(f"row {row}: file id {fid} has tokens {list(tokens)}, earlier {list(seen)}; "
                             "the live cache names a file by its tokens and id, so they must not change")
        lfn = lfns.get((fid, tokens))
        if lfn is None:
            lfn = lfns[(fid, tokens)] = _lfn(row, fid, tokens, names)
        out.append(lfn)
    return out


def _lfn(row: int, fid: int, tokens: tuple[int, ...], names: dict[int, str]) -> str:
    used = list(tokens)
    while used and used[-1] == 0:
        used.pop()
    if not used or 0 in used:
        raise TraceError(f"row {row}: tokens {list(tokens)} need a scope (token 1) and no empty token "
                         "before a non-empty one, as the pipeline writes them")
    words = [names.get(t) or spell_id(t) for t in used]
    scope = words[0]
    # a dataset of the scope alone gets a suffix the tokeniser drops (too short), so that the
    # name differs from the scope (which dataset_tokens would otherwise tokenise again)
    dataset = ".".join(words) if len(words) > 1 else f"{scope}.x"
    if dataset_tokens(scope, dataset) != words:
        raise TraceError(f"row {row}: the tokens {words} do not survive tokenising {dataset!r}; "
                         "use the vocabulary the trace was made with")
    try:
        return check_lfn(f"/{scope}/{dataset}/f{fid}.root")
    except MalformedPacket as exc:
        raise TraceError(f"row {row}: {exc}") from None


class Tokeniser:
    """lfn -> the six token ids, with a vocabulary that grows by first appearance.

    ``on_new(token, id)`` is called for every token it had to add (the sidecar stores them).
    """

    def __init__(self, vocab: Vocabulary | None = None,
                 on_new: Callable[[str, int], None] | None = None) -> None:
        self.vocab = Vocabulary(dict(vocab.ids)) if vocab else Vocabulary()
        self._on_new = on_new
        self._cache: dict[str, np.ndarray] = {}

    def tokens(self, lfn: str) -> np.ndarray:
        """int64 array of six ids (0 = empty) for the dataset directory of ``lfn``."""
        cached = self._cache.get(lfn)
        if cached is not None:
            return cached
        parts = lfn[1:].split("/")
        if len(parts) < 3:
            raise MalformedPacket(f"lfn {lfn!r} must be /<scope>/<dataset>/<file>")
        words = dataset_tokens(parts[0], parts[1])
        ids = np.zeros(len(TOKEN_COLUMNS), dtype=np.int64)
        for i, word in enumerate(words):
            known = word in self.vocab.ids
            ids[i] = self.vocab.id_of(word)
            if not known and self._on_new is not None:
                self._on_new(word, int(ids[i]))
        self._cache[lfn] = ids
        return ids


def file_path(cache_dir: str | os.PathLike, lfn: str) -> Path:
    """Where the cache keeps ``lfn`` inside ``cache_dir`` (the namespace mirrors the lfn)."""
    return Path(cache_dir) / lfn[1:]


def load_vocab(path: str | os.PathLike | None) -> Vocabulary | None:
    """The vocabulary in ``path`` — a trace written by the pipeline or a JSON file (None: none)."""
    return Vocabulary.load(Path(path)) if path is not None else None


def vocab_or_none(path: str | os.PathLike, required: bool) -> Vocabulary | None:
    """The vocabulary in ``path``; a trace without one gives None unless ``required`` (then TraceError)."""
    try:
        return load_vocab(path)
    except TraceError:
        if required:
            raise
        log.warning("%s carries no vocabulary: the sidecar numbers tokens by first appearance", path)
        return None
