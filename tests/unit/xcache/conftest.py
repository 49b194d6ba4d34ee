"""The live cache's modules import the Redis client."""

import pytest

pytest.importorskip("redis", reason="the live cache needs: pip install 'iroko_gym[xcache]'")
