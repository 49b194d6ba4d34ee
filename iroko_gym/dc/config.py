"""``DCConfig``: every knob of the data-center env, validated once when built.

Keyword arguments of ``gymnasium.make("dc-iroko-v0", ...)`` (and RLlib env configs, CLI flags)
are converted here at once; nothing downstream sees untyped dicts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from iroko_gym.errors import ConfigError, DependencyError

TRANSPORTS = ("tcp", "udp")
# Congestion controls Linux ships as modules/built-ins: a name from here that the kernel lacks is
# a missing kernel feature (DependencyError), any other name a typo (ConfigError).
LINUX_CONGESTION_CONTROLS = ("reno", "cubic", "bbr", "dctcp", "vegas", "westwood", "htcp", "bic", "highspeed",
                             "hybla", "illinois", "lp", "nv", "scalable", "veno", "yeah", "cdg")
STATE_FEATURES = ("backlog", "backlog_max", "d_backlog", "drops", "overlimits", "bw_rx", "bw_tx")


def available_congestion_controls() -> list[str]:
    """TCP congestion controls the running kernel offers (built in: no module loading here)."""
    return Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split()


def _did_you_mean(value: str, options: Any) -> str:
    close = difflib.get_close_matches(str(value), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class DCConfig:
    """Configuration of one ``DCEnv``; units are in the field names."""

    topology: str = "dumbbell"
    """Topology name (``dumbbell``, ``nonblock``)."""
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
    """Where flow records and generator logs go; default ``<tmp>/iroko_gym/<env prefix>``."""
    port: int = 5201
    """TCP/UDP port of the traffic generator's servers inside the hosts."""
    socket_stats: bool = False
    """Read every sending TCP socket's kernel stats (rtt, cwnd, delivery rate, retransmits) each step
    through sock_diag, as ``info["sockets"]`` (about 1 ms per host per step)."""

    def __post_init__(self) -> None:
        self._check_positive("capacity_mbps", self.capacity_mbps)
        self._check_positive("step_interval_ms", self.step_interval_ms)
        self._check_positive("sample_interval_ms", self.sample_interval_ms)
        if self.sample_interval_ms > self.step_interval_ms:
            raise ConfigError(
                f"sample_interval_ms={self.sample_interval_ms} is longer than step_interval_ms={self.step_interval_ms}"
            )
        if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool) or self.max_steps < 1:
            raise ConfigError(f"max_steps={self.max_steps!r}: must be an integer >= 1")
        if not (isinstance(self.min_fraction, (int, float)) and 0.0 < self.min_fraction <= 1.0):
            raise ConfigError(f"min_fraction={self.min_fraction!r}: must be in (0, 1]")
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"transport={self.transport!r}: must be one of {TRANSPORTS}{_did_you_mean(self.transport, TRANSPORTS)}")
        if self.traffic_duration_s is not None:
            self._check_positive("traffic_duration_s", self.traffic_duration_s)
        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ConfigError(f"port={self.port!r}: must be an integer in 1..65535")
        if not self.state_model:
            raise ConfigError("state_model=(): choose at least one of " + ", ".join(STATE_FEATURES))
        for feat in self.state_model:
            if feat not in STATE_FEATURES:
                raise ConfigError(
                    f"state_model feature {feat!r} is unknown{_did_you_mean(feat, STATE_FEATURES)}; known: {STATE_FEATURES}"
                )
        if not isinstance(self.socket_stats, bool):
            raise ConfigError(f"socket_stats={self.socket_stats!r}: must be True or False")
        self._check_congestion_control()
        if self.pattern_file is not None and not Path(self.pattern_file).is_file():
            raise ConfigError(f"pattern_file={self.pattern_file!r}: no such file")

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
            f"congestion_control={self.congestion_control!r} is unknown{_did_you_mean(self.congestion_control, available)}; "
            f"this kernel has {available}"
        )

    @staticmethod
    def _check_positive(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name}={value!r}: must be a finite number > 0")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> DCConfig:
        """Build from keyword arguments, rejecting unknown names with a suggestion."""
        names = {f.name for f in dataclasses.fields(cls)}
        for key in kwargs:
            if key not in names:
                raise ConfigError(f"unknown DCEnv option {key!r}{_did_you_mean(key, names)}; options: {sorted(names)}")
        if "state_model" in kwargs:
            sm = kwargs["state_model"]
            kwargs["state_model"] = (sm,) if isinstance(sm, str) else tuple(sm)
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (for result files and RLlib env configs)."""
        out = dataclasses.asdict(self)
        out["state_model"] = list(self.state_model)
        return out
