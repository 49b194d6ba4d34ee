// Offline probe for the cross-language tests: applies serialized ModelUpdate messages (a full
// model, then diffs) and evaluates the local policy on given observations.
//
//   iroko_probe CONFIG.json OBS.f32 MASKS.u8|- UPDATE.bin [UPDATE.bin ...]
//
// OBS.f32: float32 rows of observation_size values; MASKS.u8: one byte per action per row (or
// "-"). Prints one JSON object: version, tensors (hex of their bytes), scalars, and per row the
// forward outputs, probabilities (discrete PPO) and one sampled decision (seeded by the config).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "iroko/client.hpp"
#include "json.hpp"
#include "snapshot.hpp"

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw iroko::ConfigError("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) { out += digits[c >> 4]; out += digits[c & 15]; }
  return out;
}

template <class T>
std::string list(const std::vector<T>& xs) {
  std::string out = "[";
  for (std::size_t i = 0; i < xs.size(); ++i) out += (i ? ", " : "") + iroko::json::number(static_cast<double>(xs[i]));
  return out + "]";
}

int run(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: iroko_probe CONFIG.json OBS.f32 MASKS.u8|- UPDATE.bin [UPDATE.bin ...]\n");
    return 2;
  }
  iroko::ClientConfig cfg = iroko::load_client_config(argv[1]);
  std::shared_ptr<const iroko::Snapshot> snap;
  for (int i = 4; i < argc; ++i) {
    iroko::pb::ModelUpdate update;
    if (!update.ParseFromString(slurp(argv[i]))) throw iroko::RemoteError(std::string("not a ModelUpdate: ") + argv[i]);
    snap = iroko::apply_update(snap, update);
  }
  iroko::LocalPolicy policy(snap, cfg.algorithm, cfg.activation(), cfg.action);
  std::string obs_bytes = slurp(argv[2]);
  std::string mask_bytes = std::string(argv[3]) == "-" ? "" : slurp(argv[3]);
  const std::size_t n_obs = static_cast<std::size_t>(cfg.observation_size), n_act = cfg.action.size();
  const std::size_t rows = obs_bytes.size() / (4 * n_obs);
  iroko::Rng rng(cfg.seed.value_or(0));
  std::string out = "{\"version\": " + std::to_string(snap->version) + ", \"tensors\": {";
  bool first = true;
  for (const auto& [name, t] : snap->tensors) {
    out += (first ? "" : ", ") + iroko::json::quote(name) + ": " + iroko::json::quote(t.dtype + ":" + hex(t.data));
    first = false;
  }
  out += "}, \"scalars\": {";
  first = true;
  for (const auto& [name, v] : snap->scalars) {
    out += (first ? "" : ", ") + iroko::json::quote(name) + ": " + iroko::json::number(v);
    first = false;
  }
  out += "}, \"std\": " + list(policy.std_dev()) + ", \"rows\": [";
  for (std::size_t r = 0; r < rows; ++r) {
    const float* obs = reinterpret_cast<const float*>(obs_bytes.data()) + r * n_obs;
    const uint8_t* mask = mask_bytes.empty() ? nullptr : reinterpret_cast<const uint8_t*>(mask_bytes.data()) + r * n_act;
    out += r ? ", " : "";
    out += "{\"outputs\": " + list(policy.forward(obs));
    if (cfg.action.discrete() && cfg.algorithm == "PPO") out += ", \"probabilities\": " + list(policy.probabilities(obs, mask));
    iroko::Decision d = policy.act(obs, mask, rng);
    out += ", \"index\": " + std::to_string(d.index) + ", \"raw\": " + list(d.raw) + ", \"act\": " + list(d.act) +
           ", \"logp\": " + iroko::json::number(d.logp) + "}";
  }
  std::printf("%s]}\n", out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const iroko::Error& e) {
    std::fprintf(stderr, "iroko_probe: %s\n", e.what());
    return 1;
  }
}
