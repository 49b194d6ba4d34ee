"""The remote service's unit tests need its optional dependencies."""

from __future__ import annotations

import pytest

pytest.importorskip("grpc", reason="the remote service needs: pip install 'iroko_gym[remote]'")
torch = pytest.importorskip("torch", reason="the remote service needs: pip install 'iroko_gym[remote]'")
torch.set_num_threads(1)
