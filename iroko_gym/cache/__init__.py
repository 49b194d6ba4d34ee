"""The caching gyms: ``Cache-v0``, ``Cache-large-v0``, ``Cache-continuous-v0`` (see docs/cache.md).

Modules: ``trace`` (processed traces), ``core`` (the watermark cache), ``env`` (the environments),
``rewards``, ``monitor`` (per-access records), ``policies`` (LRU, LFU, FIFO, Belady, GDSF),
``baselines`` (CLI), ``pipeline`` (raw logs -> traces, CLI), ``synthetic`` (generated logs).
Nothing is imported here, so ``import iroko_gym`` stays cheap.
"""
