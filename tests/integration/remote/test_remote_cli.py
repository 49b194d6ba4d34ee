"""``python -m iroko_gym.remote.server``: starts on port 0, checkpoints on SIGTERM, refuses bad flags."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import wait_for_learner

pytestmark = pytest.mark.integration


def test_server_cli_serves_and_checkpoints_on_sigterm(tmp_path, make_config):
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, "-m", "iroko_gym.remote.server", "--host",
                             "127.0.0.1", "--port", "0", "--checkpoint-dir", str(ckpt),
                             "--logdir", str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        address = re.search(r"listening on (127\.0\.0\.1:\d+)", line).group(1)
        with RemoteAgent(make_config(address, client_id="cli")) as agent:
            traj, action = agent.request_for_action(None, np.zeros(4))
            agent.mark_end_of_trajectory(traj, action)
            assert agent.flush(10)
            assert wait_for_learner(agent, 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [p.name.startswith("cli-") for p in ckpt.iterdir()] == [True]


@pytest.mark.parametrize(("flags", "message"), [
    (["--checkpoint-every", "0"], "checkpoint_every=0"),
    (["--tls-cert", "c.pem"], "tls_cert_file and tls_key_file go together"),
    (["--port", "70000"], "port=70000"),
])
def test_server_cli_rejects_bad_flags_with_a_message(flags, message):
    done = subprocess.run([sys.executable, "-m", "iroko_gym.remote.server", "--host",
                           "127.0.0.1", *flags], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and message in done.stderr
