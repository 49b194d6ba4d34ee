"""Traffic patterns: shapes and probabilities, seeding, workloads, file round-trips, strict loading."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pytest

from iroko_gym.dc.traffic.patterns import PATTERNS, Flow, TrafficPattern, generate_pattern
from iroko_gym.dc.traffic.workloads import WEBSEARCH, Workload
from iroko_gym.errors import ConfigError, TraceError
from iroko_gym.topologies import HostSpec, make_topology

DUMBBELL = make_topology("dumbbell", hosts_per_side=4).hosts  # h1..h4 pod 0, h5..h8 pod 1
NONBLOCK = make_topology("nonblock", num_hosts=8).hosts
# A fat-tree-like layout from pod/edge only: 2 pods x 2 edges x 2 hosts.
FAT = tuple(HostSpec(f"h{i + 1}", i, f"10.0.0.{i + 1}", pod=i // 4, edge=(i // 2) % 2) for i in range(8))
NAMES = [h.name for h in DUMBBELL]


def pairs(pattern: TrafficPattern) -> list[tuple[str, str]]:
    return [(f.src, f.dst) for f in pattern.flows]


# --- shapes ---------------------------------------------------------------------------------


def test_dumbbell_default_incast_crosses_the_bottleneck():
    p = generate_pattern("incast", DUMBBELL, seed=0)
    assert pairs(p) == [("h1", "h5"), ("h2", "h5"), ("h3", "h5"), ("h4", "h5")]
    assert p.senders == ("h1", "h2", "h3", "h4") and p.receivers == ("h5",)
    assert all(f.size_bytes == 0 and f.start_s == 0.0 for f in p.flows)


def test_incast_with_several_receivers_and_chosen_senders():
    p = generate_pattern("incast", DUMBBELL, seed=3, receivers=2, senders=3)
    assert set(p.receivers) == {"h5", "h6"} and len(p.flows) == 3
    assert set(p.senders) <= {"h1", "h2", "h3", "h4"}
    assert [dst for _, dst in pairs(p)] == ["h5", "h6", "h5"]  # sender i -> receiver i mod 2


def test_incast_on_a_single_pod_uses_every_other_host():
    p = generate_pattern("incast", NONBLOCK, seed=0)
    assert p.receivers == ("h1",) and len(p.senders) == 7


def test_incast_cross_pod_on_fat_layout_only_sends_from_other_pods():
    p = generate_pattern("incast", FAT, seed=0, receivers=1, receiver_pod=0)
    assert p.receivers == ("h1",) and set(p.senders) == {"h5", "h6", "h7", "h8"}
    q = generate_pattern("incast", FAT, seed=0, cross_pod=False)
    assert q.receivers == ("h5",) and len(q.senders) == 7


@pytest.mark.parametrize("s", [1, 2, 3, 5, -1])
def test_stride_targets(s):
    p = generate_pattern("stride", DUMBBELL, stride=s)
    n = len(NAMES)
    assert pairs(p) == [(NAMES[i], NAMES[(i + s) % n]) for i in range(n)]


@pytest.mark.parametrize("s", [0, 8, 1.5, True])
def test_stride_without_a_partner_is_rejected(s):
    with pytest.raises(ConfigError, match="stride="):
        generate_pattern("stride", DUMBBELL, stride=s)


@pytest.mark.parametrize("seed", range(30))
def test_bijection_is_a_permutation_without_fixed_points(seed):
    p = generate_pattern("bijection", NONBLOCK, seed=seed)
    srcs, dsts = zip(*pairs(p))
    assert sorted(srcs) == sorted(dsts) == sorted(h.name for h in NONBLOCK)
    assert all(s != d for s, d in zip(srcs, dsts))


def test_bijection_on_two_hosts_is_the_swap():
    assert pairs(generate_pattern("bijection", NONBLOCK[:2], seed=5)) == [("h1", "h2"), ("h2", "h1")]


def test_random_and_kflows_never_self_and_kflows_distinct():
    for seed in range(20):
        assert all(s != d for s, d in pairs(generate_pattern("random", DUMBBELL, seed=seed)))
        k = generate_pattern("kflows", DUMBBELL, seed=seed, k=3)
        by_src = Counter(f.src for f in k.flows)
        assert set(by_src.values()) == {3}
        assert len(set(pairs(k))) == len(k.flows) and all(s != d for s, d in pairs(k))


def test_kflows_k_out_of_range():
    with pytest.raises(ConfigError, match=r"kflows k=8: must be an integer in \[1, 7\]"):
        generate_pattern("kflows", DUMBBELL, k=8)


def test_all_to_all_is_every_ordered_pair():
    p = generate_pattern("all_to_all", NONBLOCK[:4])
    assert len(p.flows) == 12 and len(set(pairs(p))) == 12


def test_staggered_probabilities_within_tolerance():
    counts = Counter()
    draws = 0
    for seed in range(400):
        for src, dst in pairs(generate_pattern("staggered", FAT, seed=seed, p_edge=0.2, p_pod=0.5)):
            a, b = FAT[NAMES.index(src)], FAT[NAMES.index(dst)]
            counts["edge" if (a.pod, a.edge) == (b.pod, b.edge) else "pod" if a.pod == b.pod else "other"] += 1
            draws += 1
    for tier, p in (("edge", 0.2), ("pod", 0.5), ("other", 0.3)):
        assert counts[tier] / draws == pytest.approx(p, abs=0.02)


def test_staggered_widens_an_empty_choice():
    # dumbbell: pod == edge, so "same pod, other edge" is empty and widens to the other pod
    for src, dst in pairs(generate_pattern("staggered", DUMBBELL, seed=1, p_edge=0.0, p_pod=1.0)):
        assert (NAMES.index(src) < 4) != (NAMES.index(dst) < 4)


@pytest.mark.parametrize("params", [{"p_edge": 0.7, "p_pod": 0.5}, {"p_edge": -0.1}, {"p_pod": "x"}])
def test_staggered_bad_probabilities(params):
    with pytest.raises(ConfigError, match="staggered p_"):
        generate_pattern("staggered", FAT, **params)


def test_hotspot_sends_the_given_fraction_to_hot_hosts():
    hot = total = 0
    for seed in range(300):
        # the hot hosts are drawn first, so with hot_fraction=1 the same seed reveals them
        hot_set = set(generate_pattern("hotspot", NONBLOCK, seed=seed, hot_hosts=2, hot_fraction=1.0).receivers)
        assert len(hot_set) == 2
        p = generate_pattern("hotspot", NONBLOCK, seed=seed, hot_hosts=2, hot_fraction=0.6)
        assert all(s != d for s, d in pairs(p)) and p.senders == tuple(h.name for h in NONBLOCK)
        hot += sum(f.dst in hot_set for f in p.flows)
        total += len(p.flows)
    assert hot / total == pytest.approx(0.6, abs=0.03)


# --- seeds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_same_seed_same_pattern(name):
    kw = {"workload": "websearch", "load": 0.3, "capacity_mbps": 100.0, "duration_s": 2.0}
    assert generate_pattern(name, FAT, seed=7, **kw) == generate_pattern(name, FAT, seed=7, **kw)


@pytest.mark.parametrize("name", ["staggered", "random", "bijection", "kflows", "hotspot"])
def test_different_seeds_differ(name):
    patterns = {pairs(generate_pattern(name, NONBLOCK, seed=s)).__repr__() for s in range(5)}
    assert len(patterns) > 1


def test_seed_none_draws_and_records_a_seed():
    p = generate_pattern("random", NONBLOCK)
    assert isinstance(p.seed, int) and generate_pattern("random", NONBLOCK, seed=p.seed) == p


# --- workloads ------------------------------------------------------------------------------


def test_fixed_size_flows():
    p = generate_pattern("stride", DUMBBELL, stride=4, size_bytes=1_000_000)
    assert {f.size_bytes for f in p.flows} == {1_000_000} and p.params["workload"] == "fixed"


@pytest.mark.parametrize("workload, extra", [("websearch", {}), ("fixed", {"size_bytes": 500_000})])
def test_poisson_load_within_tolerance(workload, extra):
    load, cap, dur = 0.4, 1000.0, 60.0
    p = generate_pattern("bijection", NONBLOCK, seed=11, workload=workload, load=load, capacity_mbps=cap,
                         duration_s=dur, **extra)
    offered = sum(f.size_bytes for f in p.flows) * 8 / dur / (cap * 1e6 * len(NONBLOCK))
    assert offered == pytest.approx(load, rel=0.08)
    starts = [f.start_s for f in p.flows]
    assert starts == sorted(starts) and 0 <= starts[0] and starts[-1] < dur
    gaps = np.diff([f.start_s for f in p.flows if f.src == "h1"])
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(1.0, abs=0.15)  # exponential: CV ~ 1 (bursty)


def test_websearch_sizes_are_heavy_tailed():
    sizes = WEBSEARCH.sample(np.random.default_rng(0), 200_000)
    assert sizes.min() == 10_000 and sizes.max() <= 30_000_000
    assert np.median(sizes) < 100_000 < WEBSEARCH.mean_bytes  # most flows small, mean set by elephants
    assert sizes.mean() == pytest.approx(WEBSEARCH.mean_bytes, rel=0.03)
    big = sizes[sizes > 1_000_000]
    assert big.sum() / sizes.sum() > 0.8


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"workload": "websearh"}, "did you mean 'websearch'"),
        ({"workload": "websearch"}, "needs load"),
        ({"workload": "websearch", "load": 0.5, "duration_s": 1.0}, "capacity_mbps=None"),
        ({"size_bytes": 10, "load": 1.5, "capacity_mbps": 10, "duration_s": 1}, "load=1.5"),
        ({"size_bytes": -1}, "size_bytes=-1"),
        ({"load": 0.5}, "load applies to sized flows"),
        ({"workload": "fixed"}, "needs size_bytes > 0"),
    ],
)
def test_bad_workloads(kw, match):
    with pytest.raises(ConfigError, match=match):
        generate_pattern("random", NONBLOCK, seed=0, **kw)


def test_workload_mean_is_the_exact_interpolated_mean():
    assert Workload("fixed", size_bytes=42).mean_size_bytes() == 42.0
    assert WEBSEARCH.mean_bytes == pytest.approx(1_712_000.0)


# --- generate_pattern errors ----------------------------------------------------------------


def test_unknown_pattern_suggests():
    with pytest.raises(ConfigError, match=r"traffic pattern='incats': must be one of .* \(did you mean 'incast'\?\)"):
        generate_pattern("incats", DUMBBELL)


def test_unknown_parameter_lists_accepted():
    with pytest.raises(ConfigError, match=r"does not take \['strde'\]; it takes \['stride'\]"):
        generate_pattern("stride", DUMBBELL, strde=2)


@pytest.mark.parametrize("hosts", [DUMBBELL[:1], (DUMBBELL[0], DUMBBELL[0])])
def test_too_few_or_duplicate_hosts(hosts):
    with pytest.raises(ConfigError, match="at least two hosts with distinct names"):
        generate_pattern("random", hosts)


def test_hosts_must_be_host_specs():
    with pytest.raises(ConfigError, match="HostSpec objects"):
        generate_pattern("random", ["h1", "h2"])


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed(seed):
    with pytest.raises(ConfigError, match="seed="):
        generate_pattern("random", NONBLOCK, seed=seed)


# --- validation and files -------------------------------------------------------------------


def test_validate_names_the_missing_host_with_suggestion():
    p = TrafficPattern("t", (Flow("h1", "h2"), Flow("h2", "h19")), None, {})
    p.validate(["h1", "h2", "h19"])
    with pytest.raises(ConfigError, match=r"flow #2 \(h2->h19\) dst: unknown host 'h19' \(did you mean 'h1'\?\)"):
        p.validate(NAMES)


def test_flow_rejects_self_and_bad_fields():
    with pytest.raises(ConfigError, match="cannot send to itself"):
        Flow("h1", "h1")
    for kw in ({"start_s": -1.0}, {"start_s": float("nan")}, {"size_bytes": -5}, {"size_bytes": 1.5}):
        with pytest.raises(ConfigError):
            Flow("h1", "h2", **kw)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".CSV"])
def test_file_round_trip(tmp_path, suffix):
    p = generate_pattern("kflows", FAT, seed=3, k=2, workload="websearch", load=0.2, capacity_mbps=10.0, duration_s=3.0)
    path = tmp_path / f"pattern{suffix}"
    p.save(path)
    assert TrafficPattern.load(path) == p
    assert TrafficPattern.load(str(path), host_names=[h.name for h in FAT]) == p
    assert os.listdir(tmp_path) == [path.name]


def test_round_trip_of_an_empty_unseeded_pattern(tmp_path):
    p = TrafficPattern("quiet", (), None, {"note": (1, 2)})
    for name in ("q.csv", "q.json"):
        p.save(tmp_path / name)
        back = TrafficPattern.load(tmp_path / name)
        assert back == p and back.params == {"note": [1, 2]}


def test_hand_written_csv_without_metadata(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("src,dst,start_s,size_bytes\nh1,h2,0,0\n\nh2,h1,1.5,1000\n")
    p = TrafficPattern.load(path)
    assert p.name == "mine" and p.seed is None and pairs(p) == [("h1", "h2"), ("h2", "h1")]


CSV_HEAD = "# name: bad\nsrc,dst,start_s,size_bytes\nh1,h2,0,0\n"


@pytest.mark.parametrize(
    "row, match",
    [
        ("h1,h2,0", r"row 2 \(line 4\): missing field 'size_bytes'"),
        ("h1,,0,0", r"row 2 \(line 4\): missing field 'dst'"),
        ("h1,h2,0,-5", r"row 2 \(line 4\): flow h1->h2: size_bytes=-5: must be an integer >= 0"),
        ("h1,h2,soon,0", r"row 2 \(line 4\), field 'start_s': 'soon' is not a number"),
        ("h1,h2,-1,0", r"row 2 \(line 4\): flow h1->h2: start_s=-1.0: must be a finite number >= 0"),
        ("h1,h2,nan,0", r"row 2 \(line 4\): flow h1->h2: start_s=nan"),
        ("h1,h2,0,1e3", r"field 'size_bytes': '1e3' is not an integer"),
        ("h1,h9,0,0", r"row 2 \(line 4\), field 'dst': unknown host 'h9' \(did you mean"),
        ("h1,h1,0,0", r"row 2 \(line 4\): flow h1->h1: a host cannot send to itself"),
        ("h1,h2,0,0,7", r"row 2 \(line 4\): has 5 fields"),
    ],
)
def test_malformed_csv_rows_are_rejected_naming_file_and_row(tmp_path, row, match):
    path = tmp_path / "bad.csv"
    path.write_text(CSV_HEAD + row + "\n")
    with pytest.raises(TraceError, match=match) as info:
        TrafficPattern.load(path, host_names=NAMES)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "flow, match",
    [
        ({"src": "h1", "dst": "h2", "start_s": 0}, r"row 2 \(flows\[1\]\): missing field 'size_bytes'"),
        ({"src": "h1", "dst": "h2", "start_s": 0, "size_bytes": -1}, r"row 2 \(flows\[1\]\): flow h1->h2: size_bytes=-1"),
        ({"src": "h1", "dst": "h2", "start_s": "0", "size_bytes": 1}, r"row 2 \(flows\[1\]\): flow h1->h2: start_s='0'"),
        ({"src": "h1", "dst": "h2", "start_s": 0, "size_bytes": 1.0}, r"row 2 \(flows\[1\]\): flow h1->h2: size_bytes=1.0: must be an integer"),
        ({"src": "h1", "dst": "hx", "start_s": 0, "size_bytes": 1}, r"row 2 \(flows\[1\]\), field 'dst': unknown host 'hx'"),
        ({"src": "h1", "dst": "h2", "start_s": 0, "size_bytes": 1, "rate": 5}, r"unknown field 'rate'"),
        ("h1->h2", r"row 2 \(flows\[1\]\): 'h1->h2' is not an object"),
    ],
)
def test_malformed_json_rows_are_rejected_naming_file_and_row(tmp_path, flow, match):
    path = tmp_path / "bad.json"
    good = {"src": "h1", "dst": "h2", "start_s": 0.0, "size_bytes": 0}
    path.write_text(json.dumps({"name": "bad", "flows": [good, flow]}))
    with pytest.raises(TraceError, match=match):
        TrafficPattern.load(path, host_names=NAMES)


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("h.csv", "src,dst,start\nh1,h2,0\n", "line 1: header is 'src,dst,start'"),
        ("m.csv", "# colour: blue\nsrc,dst,start_s,size_bytes\n", "line 1: metadata"),
        ("s.csv", "# seed: x\nsrc,dst,start_s,size_bytes\n", "metadata seed 'x'"),
        ("f.csv", "# format: other/9\nsrc,dst,start_s,size_bytes\n", "format 'other/9'"),
        ("j.json", "{\"flows\": [", "not JSON"),
        ("k.json", "{\"flows\": [], \"colour\": 1}", r"unknown keys \['colour'\]"),
        ("l.json", "[]", "want a JSON object with a 'flows' list"),
        ("n.json", "{\"flows\": [], \"seed\": -2}", "seed=-2"),
    ],
)
def test_malformed_files(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(TraceError, match=match):
        TrafficPattern.load(tmp_path / name)


def test_unknown_extension_is_a_config_error_and_writes_nothing(tmp_path):
    p = generate_pattern("random", NONBLOCK, seed=0)
    with pytest.raises(ConfigError, match=r"end in \.csv or \.json, not '\.txt'"):
        p.save(tmp_path / "p.txt")
    assert os.listdir(tmp_path) == []


def test_failed_save_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    old = generate_pattern("random", NONBLOCK, seed=0)
    old.save(path)
    before = path.read_bytes()

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        generate_pattern("random", NONBLOCK, seed=1).save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["p.json"]


def test_params_must_be_json_values():
    with pytest.raises(ConfigError, match="must be JSON values"):
        TrafficPattern("t", (), None, {"f": object()})


def test_binary_file_is_a_trace_error_and_missing_file_an_os_error(tmp_path):
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TraceError, match="not a UTF-8 text file"):
        TrafficPattern.load(tmp_path / "b.csv")
    with pytest.raises(FileNotFoundError):
        TrafficPattern.load(tmp_path / "missing.json")
