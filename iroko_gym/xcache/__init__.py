"""The live cache: the XCache deployment of the gym-cache design, with real parts (docs/cache-deployment.md).

Modules: ``records`` (the g-stream monitoring packets), ``naming`` (lfns <-> tokens),
``loadgen`` (the cache server on a real directory), ``sidecar`` (the environment: records in,
answers into Redis, its own cleanup), ``store`` (the Redis keys), ``actors`` (remote learner or
local policy), ``redis_server`` (a private redis-server), ``deploy`` (everything in one command).
Nothing is imported here.
"""
