"""``DCConfig``: every knob of the data-center env, validated once when built.

Keyword arguments of ``gymnasium.make("dc-iroko-v0", ...)`` (and RLlib env configs, CLI flags)
are converted here at once; nothing downstream sees untyped dicts.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from iroko_gym.errors import ConfigError, DependencyError
from iroko_gym.topologies import TOPOLOGIES
from iroko_gym.validate import (check_bool, check_choice, check_int, check_known_keys, check_mapping, check_real,
                                did_you_mean)

TRANSPORTS = ("tcp", "udp")
# Congestion controls Linux ships as modules/built-ins: a name from here that the kernel lacks is
# a missing kernel feature (DependencyError), any other name a typo (ConfigError).
LINUX_CONGESTION_CONTROLS = ("reno", "cubic", "bbr", "dctcp", "vegas", "westwood", "htcp", "bic", "highspeed",
                             "hybla", "illinois", "lp", "nv", "scalable", "veno", "yeah", "cdg")
STATE_FEATURES = ("backlog", "backlog_max", "d_backlog", "drops", "overlimits", "bw_rx", "bw_tx")


def available_congestion_controls() -> list[str]:
    """TCP congestion controls the running kernel offers (built in: no module loading here)."""
    return Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split()


@dataclass(frozen=True)
class DCConfig:
    """Configuration of one ``DCEnv``; units are in the field names."""

    topology: str = "dumbbell"
    """Topology name (``dumbbell``, ``fattree``, ``nonblock``)."""
    topology_params: Mapping[str, Any] = field(default_factory=dict)
    """Extra topology parameters, e.g. ``{"hosts_per_side": 4, "queue_ms": 20}``."""
    capacity_mbps: float = 10.0
    """Link capacity of every link unless the topology parameters say otherwise."""
    transport: str = "tcp"
    """``tcp`` or ``udp``."""
    congestion_control: str = "cubic"
    """TCP congestion control, set per socket by the traffic generator (never a global sysctl)."""
    pattern: str = "incast"
    """Traffic pattern generator name (see ``iroko_gym.dc.traffic.patterns``)."""
    pattern_params: Mapping[str, Any] = field(default_factory=dict)
    """Parameters of the pattern generator, e.g. ``{"size_bytes": 1_000_000}``."""
    pattern_file: str | None = None
    """A saved pattern (CSV/JSON) used instead of the generator; validated before any network is built."""
    traffic_duration_s: float | None = None
    """Stop the traffic of an episode after this many seconds (``terminated`` then); None = until the step budget."""
    step_interval_ms: float = 100.0
    """Length of one step: ``step()`` returns when the interval is over."""
    sample_interval_ms: float = 10.0
    """How often the collectors sample queues within a step."""
    warm_up_ms: float = 0.0
    """Rehearse the step's closing work this long before each deadline, then busy-wait to it; 0 = off.

    The closing work (netlink reads, observation, reward, info) is cheap on warm caches and several
    times dearer after a sleep; rehearsing it on the previous step's measurements (results thrown
    away) warms them.  It costs about this much CPU per step and changes no measurement, except
    that no queue sample is taken while it runs (as in the last 2 ms of any step).  Worth it for
    fast steps only: 1 ms at 10 ms steps halved the overhead p50 here (docs/results.md)."""
    max_steps: int = 1000
    """Step budget of an episode (``truncated`` when reached)."""
    min_fraction: float = 0.05
    """Lowest sending rate an action may ask for, as a fraction of the host's link capacity."""
    rate_control: bool = True
    """False: no rate limits on hosts, TCP alone controls congestion (``dc-tcp-v0``)."""
    state_model: tuple[str, ...] = ("backlog", "d_backlog", "drops", "overlimits", "bw_rx", "bw_tx")
    """Per-port features in the observation, in this order."""
    reward: Any = "step"
    """Reward spec: a name, ``"a+b"``, a list of names or a ``{name: weight}`` mapping."""
    output_dir: str | None = None
    """Where flow records and generator logs go; default ``<tmp>/iroko-gym/<env prefix>``.  One live env
    per directory: a second env given the same one is refused."""
    port: int = 5201
    """TCP/UDP port of the traffic generator's servers inside the hosts."""
    socket_stats: bool = False
    """Read every sending TCP socket's kernel stats (rtt, cwnd, delivery rate, retransmits) each step
    through sock_diag, as ``info["sockets"]`` (about 1 ms per host per step)."""

    def __post_init__(self) -> None:
        fix = functools.partial(object.__setattr__, self)  # frozen: normalise through the back door, once
        check_choice("topology", self.topology, TOPOLOGIES)
        fix("topology_params", dict(check_mapping("topology_params", self.topology_params)))
        fix("capacity_mbps", check_real("capacity_mbps", self.capacity_mbps, positive=True))
        check_choice("transport", self.transport, TRANSPORTS)
        if not isinstance(self.congestion_control, str):
            raise ConfigError(f"congestion_control={self.congestion_control!r}: must be a name such as 'cubic'")
        if not isinstance(self.pattern, str):
            raise ConfigError(f"pattern={self.pattern!r}: must be a pattern name such as 'incast'")
        fix("pattern_params", dict(check_mapping("pattern_params", self.pattern_params)))
        if self.pattern_file is not None:
            if not isinstance(self.pattern_file, (str, os.PathLike)) or not str(self.pattern_file):
                raise ConfigError(f"pattern_file={self.pattern_file!r}: must be the path of a saved pattern (CSV/JSON)")
            if not Path(self.pattern_file).is_file():
                raise ConfigError(f"pattern_file={self.pattern_file!r}: no such file")
            fix("pattern_file", str(self.pattern_file))
        if self.traffic_duration_s is not None:
            fix("traffic_duration_s", check_real("traffic_duration_s", self.traffic_duration_s, positive=True))
        fix("step_interval_ms", check_real("step_interval_ms", self.step_interval_ms, positive=True))
        fix("sample_interval_ms", check_real("sample_interval_ms", self.sample_interval_ms, positive=True))
        if self.sample_interval_ms > self.step_interval_ms:
            raise ConfigError(
                f"sample_interval_ms={self.sample_interval_ms} is longer than step_interval_ms={self.step_interval_ms}"
            )
        fix("warm_up_ms", check_real("warm_up_ms", self.warm_up_ms, 0.0))
        if self.warm_up_ms >= self.step_interval_ms:
            raise ConfigError(f"warm_up_ms={self.warm_up_ms} must be shorter than step_interval_ms={self.step_interval_ms}")
        fix("max_steps", check_int("max_steps", self.max_steps, 1))
        fix("min_fraction", check_real("min_fraction", self.min_fraction, high=1.0, positive=True))
        fix("rate_control", check_bool("rate_control", self.rate_control))
        sm = self.state_model
        if isinstance(sm, str):
            sm = (sm,)
        if not isinstance(sm, (tuple, list)) or not sm or not all(isinstance(f, str) for f in sm):
            raise ConfigError(f"state_model={self.state_model!r}: must be a non-empty list of features, from {STATE_FEATURES}")
        for feat in sm:
            if feat not in STATE_FEATURES:
                raise ConfigError(
                    f"state_model feature {feat!r} is unknown{did_you_mean(feat, STATE_FEATURES)}; known: {STATE_FEATURES}"
                )
        fix("state_model", tuple(sm))
        if self.output_dir is not None:
            if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir):
                raise ConfigError(f"output_dir={self.output_dir!r}: must be a directory path (or None for the default)")
            fix("output_dir", str(self.output_dir))
        fix("port", check_int("port", self.port, 1, 65535))
        fix("socket_stats", check_bool("socket_stats", self.socket_stats))
        self._check_congestion_control()

    def _check_congestion_control(self) -> None:
        available = available_congestion_controls()
        if self.congestion_control in available:
            return
        if self.congestion_control in LINUX_CONGESTION_CONTROLS:
            raise DependencyError(
                f"congestion_control={self.congestion_control!r}: this kernel lacks tcp_{self.congestion_control} "
                f"(CONFIG_TCP_CONG_{self.congestion_control.upper()}) and cannot load modules; available: {available}"
            )
        raise ConfigError(
            f"congestion_control={self.congestion_control!r} is unknown{did_you_mean(self.congestion_control, available)}; "
            f"this kernel has {available}"
        )

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> DCConfig:
        """Build from keyword arguments, rejecting unknown names with a suggestion."""
        check_known_keys("DCEnv option(s)", kwargs, {f.name for f in dataclasses.fields(cls)})
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (for result files and RLlib env configs)."""
        out = dataclasses.asdict(self)
        out["state_model"] = list(self.state_model)
        return out
