// Unit tests of the C++ client that need no server (run by ctest, one case per test).
// The cross-language checks against the Python client are in tests/integration/remote/test_cpp_client.py.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "cartpole.hpp"
#include "iroko/client.hpp"
#include "json.hpp"
#include "snapshot.hpp"

namespace {

int failures = 0;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                               \
    }                                                                           \
  } while (0)

// `fn` throws E whose message contains `needle`.
template <class E>
void check_throws(const std::function<void()>& fn, const std::string& needle, int line) {
  try {
    fn();
  } catch (const E& e) {
    if (std::string(e.what()).find(needle) == std::string::npos) {
      std::fprintf(stderr, "line %d: message '%s' lacks '%s'\n", line, e.what(), needle.c_str());
      ++failures;
    }
    return;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "line %d: wrong exception type: %s\n", line, e.what());
    ++failures;
    return;
  }
  std::fprintf(stderr, "line %d: nothing thrown (expected '%s')\n", line, needle.c_str());
  ++failures;
}
#define THROWS(E, expr, needle) check_throws<E>([&] { expr; }, needle, __LINE__)

namespace pb = iroko::pb;

void put(pb::Tensor* t, const std::vector<float>& values, std::vector<int64_t> shape) {
  iroko::encode(t, "float32", std::move(shape), values.data(), values.size() * 4);
}

// A 2-layer actor: obs 2 -> hidden 2 -> out 2 (weights chosen for hand computation).
pb::ModelUpdate small_model(int64_t version, bool box = false) {
  pb::ModelUpdate m;
  m.set_version(version);
  m.set_full(true);
  put(&(*m.mutable_tensors())["actor.0.weight"], {1, 0, 0, -1}, {2, 2});
  put(&(*m.mutable_tensors())["actor.0.bias"], {0, 0.5f}, {2});
  put(&(*m.mutable_tensors())["actor.1.weight"], {1, 1, 2, -1}, {2, 2});
  put(&(*m.mutable_tensors())["actor.1.bias"], {0.25f, 0}, {2});
  if (box) put(&(*m.mutable_tensors())["log_std"], {0.0f, std::log(2.0f)}, {2});
  return m;
}

iroko::ActionSpec discrete(int64_t n) {
  iroko::ActionSpec a;
  a.n = n;
  return a;
}

void test_json() {
  auto v = iroko::json::parse(R"({"a": [1, 2.5, -3e2], "b": {"c": "x\"y"}, "d": null, "e": true})", "t");
  CHECK(v.members.size() == 4);
  CHECK(v.members[0].second.items[0].integral && !v.members[0].second.items[1].integral);
  CHECK(v.members[0].second.items[2].number == -300.0);
  CHECK(v.members[1].second.text == R"({"c": "x\"y"})");  // raw text kept for params
  CHECK(v.members[1].second.members[0].second.text == "x\"y");
  THROWS(iroko::ConfigError, iroko::json::parse("{\"a\": }", "f.json"), "cannot parse f.json");
  THROWS(iroko::ConfigError, iroko::json::parse("[1, 2", "f.json"), "line 1");
  CHECK(iroko::json::quote("a\"b\n") == "\"a\\\"b\\n\"");
}

void test_config() {
  const std::string good = R"({"client_id": "c", "observation_size": 4, "action": {"n": 2},
                               "params": {"hidden_sizes": [16, 16], "activation": "relu"}, "seed": 3})";
  iroko::ClientConfig c = iroko::ClientConfig::from_json(good);
  CHECK(c.client_id == "c" && c.observation_size == 4 && c.action.n == 2 && c.seed == 3u);
  CHECK(c.activation() == "relu" && c.batch_size == 8 && c.max_buffered_trajectories == 4096);
  CHECK(c.params_json == R"({"hidden_sizes": [16, 16], "activation": "relu"})");
  THROWS(iroko::ConfigError,
         iroko::ClientConfig::from_json(R"({"client_id": "c", "observation_size": 4, "action": {"n": 2}, "batch_sise": 3})"),
         "did you mean 'batch_size'?");
  THROWS(iroko::ConfigError,
         iroko::ClientConfig::from_json(R"({"client_id": "c", "observation_size": 4.5, "action": {"n": 2}})"),
         "observation_size=4.5: must be an integer");
  THROWS(iroko::ConfigError, iroko::ClientConfig::from_json(R"({"client_id": "c", "observation_size": 4})"),
         "missing required key 'action'");
  THROWS(iroko::ConfigError,
         iroko::ClientConfig::from_json(R"({"client_id": "c", "observation_size": 2, "algorithm": "DQN",
                                             "action": {"low": [0], "high": [1]}})"),
         "DQN needs a discrete action");
  iroko::ClientConfig s;
  s.client_id = "x";
  s.observation_size = 1;
  s.action.low = {1.0};
  s.action.high = {0.0};
  THROWS(iroko::ConfigError, s.validate(), "bounds must be finite with low < high");
  s.action = discrete(2);
  s.server_address = "nohost";
  THROWS(iroko::ConfigError, s.validate(), "use host:port");
  s.server_address = "127.0.0.1:1";
  s.flush_interval_s = 0;
  THROWS(iroko::ConfigError, s.validate(), "flush_interval_s=0: must be > 0");
  THROWS(iroko::ConfigError, iroko::load_client_config("/nonexistent/c.json"), "cannot read client config");
}

void test_tensors() {
  pb::Tensor t;
  t.set_dtype("float32");
  t.add_shape(2);
  t.add_shape(3);
  t.set_data(std::string(20, '\0'));
  THROWS(iroko::RemoteError, iroko::decode(t, "model.w"), "model.w: 20 data bytes for shape (2, 3) float32");
  t.set_dtype("float16");
  THROWS(iroko::RemoteError, iroko::decode(t, "model.w"), "unknown dtype 'float16'");
  t.set_dtype("int64");
  t.set_data(std::string(48, '\0'));
  CHECK(iroko::decode(t, "x").elements() == 6);
}

void test_diffs() {
  auto v1 = iroko::apply_update(nullptr, small_model(1));
  pb::ModelUpdate diff;
  diff.set_version(2);
  diff.set_base_version(1);
  (*diff.mutable_scalars())["epsilon"] = 0.5;
  int64_t idx[] = {3};
  float val[] = {7.0f};
  auto& sparse = (*diff.mutable_sparse())["actor.0.weight"];
  iroko::encode(sparse.mutable_indices(), "int64", {1}, idx, 8);
  iroko::encode(sparse.mutable_values(), "float32", {1}, val, 4);
  auto v2 = iroko::apply_update(v1, diff);
  CHECK(v2->version == 2 && v2->scalars.at("epsilon") == 0.5);
  CHECK(v2->tensors.at("actor.0.weight").as_float()[3] == 7.0f);
  CHECK(v1->tensors.at("actor.0.weight").as_float()[3] == -1.0f);  // the old snapshot is untouched
  CHECK(v2->tensors.at("actor.1.bias").data == v1->tensors.at("actor.1.bias").data);
  diff.set_base_version(5);
  THROWS(iroko::RemoteError, iroko::apply_update(v1, diff), "is based on 5, but the client holds 1");
  diff.set_base_version(1);
  idx[0] = 4;
  iroko::encode(sparse.mutable_indices(), "int64", {1}, idx, 8);
  sparse.mutable_indices()->clear_shape();
  sparse.mutable_indices()->add_shape(1);
  THROWS(iroko::RemoteError, iroko::apply_update(v1, diff), "outside a tensor of 4 elements");
}

void test_forward() {
  auto snap = iroko::apply_update(nullptr, small_model(1));
  iroko::LocalPolicy relu(snap, "PPO", "relu", discrete(2));
  float obs[] = {1.0f, 2.0f};
  // hidden = relu([1, -2 + 0.5]) = [1, 0]; out = [1*1 + 1*0 + 0.25, 2*1 - 0] = [1.25, 2]
  auto out = relu.forward(obs);
  CHECK(out.size() == 2 && out[0] == 1.25f && out[1] == 2.0f);
  iroko::LocalPolicy tanh_policy(snap, "PPO", "tanh", discrete(2));
  auto t = tanh_policy.forward(obs);
  CHECK(std::fabs(t[0] - (std::tanh(1.0f) + std::tanh(-1.5f) + 0.25f)) < 1e-6f);
  auto p = relu.probabilities(obs, nullptr);
  CHECK(std::fabs(p[1] - 1.0 / (1.0 + std::exp(-0.75))) < 1e-12);
  uint8_t mask[] = {1, 0};
  p = relu.probabilities(obs, mask);
  CHECK(p[0] == 1.0 && p[1] == 0.0);
  THROWS(iroko::RemoteError, iroko::LocalPolicy(snap, "PPO", "relu", discrete(3)), "has 2 outputs");
  THROWS(iroko::RemoteError, iroko::LocalPolicy(snap, "DQN", "relu", discrete(2)), "has no q.0.weight");
}

void test_categorical() {
  auto snap = iroko::apply_update(nullptr, small_model(1));
  iroko::LocalPolicy policy(snap, "PPO", "relu", discrete(2));
  float obs[] = {1.0f, 2.0f};
  iroko::Rng rng(1);
  int counts[2] = {0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    iroko::Decision d = policy.act(obs, nullptr, rng);
    counts[d.index]++;
    double expect = std::log(policy.probabilities(obs, nullptr)[static_cast<std::size_t>(d.index)]);
    CHECK(std::fabs(d.logp - expect) < 1e-12);
  }
  double p1 = 1.0 / (1.0 + std::exp(-0.75));
  CHECK(std::fabs(counts[1] / double(n) - p1) < 0.02);  // 6 standard errors
  uint8_t mask[] = {1, 0};
  for (int i = 0; i < 1000; ++i) CHECK(policy.act(obs, mask, rng).index == 0);
}

void test_gaussian() {
  auto snap = iroko::apply_update(nullptr, small_model(1, true));
  iroko::ActionSpec box;
  box.low = {-1.0, -1.0};
  box.high = {1.0, 1.0};
  iroko::LocalPolicy policy(snap, "PPO", "relu", box);
  float obs[] = {1.0f, 2.0f};
  iroko::Rng rng(2);
  CHECK(std::fabs(policy.std_dev()[1] - 2.0) < 1e-6);
  for (int i = 0; i < 200; ++i) {
    iroko::Decision d = policy.act(obs, nullptr, rng);
    double z0 = d.raw[0] - 1.25, z1 = (d.raw[1] - 2.0) / policy.std_dev()[1];
    double expect = -0.5 * (z0 * z0 + z1 * z1) - std::log(policy.std_dev()[1]) - std::log(2 * M_PI);
    CHECK(std::fabs(d.logp - expect) < 1e-5);
    for (int k = 0; k < 2; ++k) CHECK(d.act[k] == std::clamp(d.raw[k], -1.0f, 1.0f));
  }
}

void test_dqn() {
  pb::ModelUpdate m;
  m.set_version(1);
  m.set_full(true);
  put(&(*m.mutable_tensors())["q.0.weight"], {1, 0, 0, 1, 1, 1}, {3, 2});
  put(&(*m.mutable_tensors())["q.0.bias"], {0, 0, 0}, {3});
  float obs[] = {1.0f, 2.0f};  // q = [1, 2, 3]
  iroko::Rng rng(3);
  auto greedy = iroko::apply_update(nullptr, m);
  iroko::LocalPolicy policy(greedy, "DQN", "relu", discrete(3));
  CHECK(policy.act(obs, nullptr, rng).index == 2);
  uint8_t mask[] = {1, 1, 0};
  CHECK(policy.act(obs, mask, rng).index == 1 && policy.act(obs, mask, rng).logp == 0.0);
  (*m.mutable_scalars())["epsilon"] = 1.0;
  iroko::LocalPolicy explore(iroko::apply_update(nullptr, m), "DQN", "relu", discrete(3));
  int seen[3] = {0, 0, 0};
  uint8_t only_two[] = {1, 0, 1};
  for (int i = 0; i < 600; ++i) seen[explore.act(obs, only_two, rng).index]++;
  CHECK(seen[1] == 0 && seen[0] > 200 && seen[2] > 200);
}

void test_cartpole() {
  cartpole::CartPole env(0);
  auto obs = env.reset();
  for (float v : obs) CHECK(v >= -0.05f && v < 0.05f);
  env.reset_to({0.0, 0.0, 0.0, 0.0});
  cartpole::Step s = env.step(1);
  // force 10: temp = 10/1.1, thetaacc = -temp / (0.5 * (4/3 - 0.1/1.1)), x_dot = 0.02 * xacc
  double temp = 10.0 / 1.1, thetaacc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
  double xacc = temp - 0.05 * thetaacc / 1.1;
  CHECK(env.state()[0] == 0.0 && std::fabs(env.state()[1] - 0.02 * xacc) < 1e-15);
  CHECK(std::fabs(env.state()[3] - 0.02 * thetaacc) < 1e-15 && !s.terminated && s.reward == 1.0);
  int steps = 1;
  while (!s.terminated) { s = env.step(1); ++steps; }
  CHECK(steps < 50);  // always pushing right tips the pole within a second
  env.reset_to({0.0, 0.0, 0.0, 0.0});
  for (int i = 0; i < 500; ++i) s = env.step(i % 2);
  CHECK(s.truncated);
}

void test_no_server() {
  iroko::ClientConfig c;
  c.client_id = "nobody";
  c.observation_size = 2;
  c.action = discrete(2);
  c.server_address = "127.0.0.1:1";  // nothing listens on port 1
  c.connect_timeout_s = 0.3;
  THROWS(iroko::RemoteError, iroko::RemoteAgent agent(c), "127.0.0.1:1");
  c.tls_ca_file = "/nonexistent/ca.pem";
  THROWS(iroko::ConfigError, iroko::RemoteAgent agent(c), "tls CA '/nonexistent/ca.pem'");
  c.tls_ca_file.reset();
  c.batch_size = 0;
  THROWS(iroko::ConfigError, iroko::RemoteAgent agent(c), "batch_size=0");
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<void()>> cases = {
      {"json", test_json}, {"config", test_config}, {"tensors", test_tensors}, {"diffs", test_diffs},
      {"forward", test_forward}, {"categorical", test_categorical}, {"gaussian", test_gaussian},
      {"dqn", test_dqn}, {"cartpole", test_cartpole}, {"no_server", test_no_server}};
  if (argc != 2 || !cases.count(argv[1])) {
    std::fprintf(stderr, "usage: iroko_client_tests CASE (json, config, ...)\n");
    return 2;
  }
  cases.at(argv[1])();
  return failures == 0 ? 0 : 1;
}
