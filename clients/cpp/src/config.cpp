// ClientConfig checks and the JSON config file, mirroring iroko_gym/remote/config.py.
#include "iroko/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "iroko/errors.hpp"
#include "json.hpp"

namespace iroko {
namespace {

const std::vector<std::string> kKeys = {
    "client_id", "observation_size", "action", "algorithm", "params", "server_address",
    "batch_size", "flush_interval_s", "max_buffered_trajectories", "connect_timeout_s",
    "backoff_initial_s", "backoff_max_s", "seed", "token", "tls_ca_file"};

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_key(const std::string& key, const std::vector<std::string>& known,
                        const std::string& where) {
  const std::string* best = nullptr;
  std::size_t best_d = 0;
  for (const auto& name : known) {
    std::size_t d = edit_distance(key, name);
    if (best == nullptr || d < best_d) { best = &name; best_d = d; }
  }
  std::string msg = "unknown " + where + " key '" + key + "'";
  if (best != nullptr && best_d * 3 <= std::max(key.size(), best->size())) {
    return msg + "; did you mean '" + *best + "'?";
  }
  std::string all;
  for (const auto& name : known) all += (all.empty() ? "" : ", ") + name;
  return msg + "; known: " + all;
}

void check(bool ok, const std::string& what, const std::string& value, const std::string& fix) {
  if (!ok) throw ConfigError(what + "=" + value + ": " + fix);
}

std::string show(double x) { return json::number(x); }

std::string show(const std::vector<double>& xs) {
  std::string out = "[";
  for (std::size_t i = 0; i < xs.size(); ++i) out += (i ? ", " : "") + show(xs[i]);
  return out + "]";
}

int64_t as_int(const json::Value& v, const std::string& name) {
  if (v.kind != json::Value::Kind::Number || !v.integral)
    throw ConfigError(name + "=" + v.text + ": must be an integer");
  return static_cast<int64_t>(v.number);
}

double as_real(const json::Value& v, const std::string& name) {
  if (v.kind != json::Value::Kind::Number) throw ConfigError(name + "=" + v.text + ": must be a number");
  return v.number;
}

std::string as_string(const json::Value& v, const std::string& name) {
  if (v.kind != json::Value::Kind::String) throw ConfigError(name + "=" + v.text + ": must be a string");
  return v.text;
}

std::vector<double> as_reals(const json::Value& v, const std::string& name) {
  if (v.kind != json::Value::Kind::Array) throw ConfigError(name + "=" + v.text + ": must be a list of numbers");
  std::vector<double> out;
  for (const auto& item : v.items) out.push_back(as_real(item, name));
  return out;
}

ActionSpec action_from(const json::Value& v) {
  if (v.kind != json::Value::Kind::Object)
    throw ConfigError("action must be a mapping ({\"n\": 2} or {\"low\": [...], \"high\": [...]}), got " +
                      std::string(v.kind_name()));
  ActionSpec spec;
  for (const auto& [key, value] : v.members) {
    if (key == "n") spec.n = as_int(value, "action.n");
    else if (key == "low") spec.low = as_reals(value, "action.low");
    else if (key == "high") spec.high = as_reals(value, "action.high");
    else throw ConfigError(unknown_key(key, {"n", "low", "high"}, "action"));
  }
  return spec;
}

}  // namespace

void ActionSpec::validate() const {
  if (n) {
    check(*n >= 1 && low.empty() && high.empty(), "action.n", std::to_string(*n),
          "a discrete action needs an integer n >= 1 and no bounds");
    return;
  }
  std::string bounds = "(" + show(low) + ", " + show(high) + ")";
  check(!low.empty() && low.size() == high.size(), "action.low/high", bounds,
        "give bounds of equal, non-zero length (or n for discrete)");
  for (std::size_t i = 0; i < low.size(); ++i) {
    check(std::isfinite(low[i]) && std::isfinite(high[i]) && low[i] < high[i], "action.low/high",
          bounds, "bounds must be finite with low < high");
  }
}

void ClientConfig::validate() const {
  check(client_id.find_first_not_of(" \t\n\r") != std::string::npos, "client_id",
        json::quote(client_id), "give a non-empty string");
  check(observation_size >= 1, "observation_size", std::to_string(observation_size),
        "must be an integer >= 1");
  action.validate();
  check(algorithm == "PPO" || algorithm == "DQN", "algorithm", json::quote(algorithm), "use PPO or DQN");
  check(algorithm == "PPO" || action.discrete(), "action", "box of size " + std::to_string(action.size()),
        "DQN needs a discrete action (n)");
  json::Value params = json::parse(params_json, "params_json");
  check(params.kind == json::Value::Kind::Object, "params", params_json, "must be a JSON object");
  std::string act = activation();
  check(act == "tanh" || act == "relu", "activation", json::quote(act), "use one of ('tanh', 'relu')");
  check(server_address.find(':') != std::string::npos, "server_address", json::quote(server_address),
        "use host:port");
  check(batch_size >= 1, "batch_size", std::to_string(batch_size), "must be an integer >= 1");
  check(max_buffered_trajectories >= 1, "max_buffered_trajectories",
        std::to_string(max_buffered_trajectories), "must be an integer >= 1");
  for (auto [name, value] : {std::pair{"flush_interval_s", flush_interval_s},
                             std::pair{"connect_timeout_s", connect_timeout_s},
                             std::pair{"backoff_initial_s", backoff_initial_s},
                             std::pair{"backoff_max_s", backoff_max_s}}) {
    check(value > 0 && std::isfinite(value), name, show(value), "must be > 0");
  }
}

std::string ClientConfig::activation() const {
  json::Value params = json::parse(params_json, "params_json");
  for (const auto& [key, value] : params.members) {
    if (key == "activation") return value.text;  // a non-string fails validate()
  }
  return algorithm == "DQN" ? "relu" : "tanh";
}

ClientConfig ClientConfig::from_json(const std::string& text, const std::string& where) {
  json::Value doc = json::parse(text, where);
  if (doc.kind != json::Value::Kind::Object)
    throw ConfigError("client config must be a mapping, got " + std::string(doc.kind_name()));
  ClientConfig c;
  for (const auto& [key, v] : doc.members) {
    if (key == "client_id") c.client_id = as_string(v, key);
    else if (key == "observation_size") c.observation_size = as_int(v, key);
    else if (key == "action") c.action = action_from(v);
    else if (key == "algorithm") c.algorithm = as_string(v, key);
    else if (key == "params") {
      if (v.kind != json::Value::Kind::Object && v.kind != json::Value::Kind::Null)
        throw ConfigError("params must be a mapping of algorithm parameters, got " + std::string(v.kind_name()));
      c.params_json = v.kind == json::Value::Kind::Null ? "{}" : v.text;
    } else if (key == "server_address") c.server_address = as_string(v, key);
    else if (key == "batch_size") c.batch_size = as_int(v, key);
    else if (key == "flush_interval_s") c.flush_interval_s = as_real(v, key);
    else if (key == "max_buffered_trajectories") c.max_buffered_trajectories = as_int(v, key);
    else if (key == "connect_timeout_s") c.connect_timeout_s = as_real(v, key);
    else if (key == "backoff_initial_s") c.backoff_initial_s = as_real(v, key);
    else if (key == "backoff_max_s") c.backoff_max_s = as_real(v, key);
    else if (key == "seed") {
      if (v.kind != json::Value::Kind::Null) {
        int64_t seed = as_int(v, key);
        check(seed >= 0, "seed", v.text, "must be an integer >= 0 or null");
        c.seed = static_cast<uint64_t>(seed);
      }
    } else if (key == "token") {
      if (v.kind != json::Value::Kind::Null) c.token = as_string(v, key);
    } else if (key == "tls_ca_file") {
      if (v.kind != json::Value::Kind::Null) c.tls_ca_file = as_string(v, key);
    } else {
      throw ConfigError(unknown_key(key, kKeys, "client config"));
    }
  }
  for (const char* required : {"client_id", "observation_size", "action"}) {
    bool present = std::any_of(doc.members.begin(), doc.members.end(),
                               [&](const auto& m) { return m.first == required; });
    if (!present) throw ConfigError(where + ": missing required key '" + required + "'");
  }
  c.validate();
  return c;
}

ClientConfig load_client_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read client config " + path + ": no such file or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  return ClientConfig::from_json(text.str(), "client config " + path);
}

}  // namespace iroko
