// Client configuration: the same fields, defaults and checks as iroko_gym.remote.config.ClientConfig.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace iroko {

// Discrete(n) when n is set, else a box with bounds low/high (same, non-zero length).
struct ActionSpec {
  std::optional<int64_t> n;
  std::vector<double> low;
  std::vector<double> high;

  bool discrete() const { return n.has_value(); }
  // Number of logits (discrete) or action dimensions (box).
  std::size_t size() const { return n ? static_cast<std::size_t>(*n) : low.size(); }
  void validate() const;  // throws ConfigError
};

struct ClientConfig {
  std::string client_id;
  int64_t observation_size = 0;
  ActionSpec action;
  std::string algorithm = "PPO";             // PPO | DQN
  std::string params_json = "{}";            // algorithm parameters; the server validates them
  std::string server_address = "127.0.0.1:50051";
  int64_t batch_size = 8;                    // trajectories per upload
  double flush_interval_s = 0.5;             // upload a partial batch after this long
  int64_t max_buffered_trajectories = 4096;  // oldest are dropped (and counted) past this
  double connect_timeout_s = 30.0;           // how long the constructor waits for the server
  double backoff_initial_s = 0.05;
  double backoff_max_s = 2.0;
  std::optional<uint64_t> seed;              // local action sampling (none: from the clock)
  std::optional<std::string> token;          // shared-token authentication
  std::optional<std::string> tls_ca_file;    // enables TLS; PEM of the server's CA

  // Throws ConfigError naming the first bad field and the fix.
  void validate() const;
  // The activation between layers: params.activation, else the algorithm's default.
  std::string activation() const;

  // From a JSON document with the keys of the Python client config (action: {"n": 2} or
  // {"low": [...], "high": [...]}; params: an object). Unknown keys are refused.
  static ClientConfig from_json(const std::string& text, const std::string& where = "client config");
};

// Read a client config from a .json file (the Python client also reads YAML; this one does not).
ClientConfig load_client_config(const std::string& path);

}  // namespace iroko
