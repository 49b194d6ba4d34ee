#include "trajectory.hpp"

namespace iroko {

pb::Trajectory encode_trajectory(const std::vector<Action>& acts, int64_t version, const ClientConfig& config,
                                 bool truncated, const std::vector<float>& next_obs) {
  const int64_t steps = static_cast<int64_t>(acts.size());
  pb::Trajectory out;
  out.set_version(version);
  out.set_terminated(!truncated);
  const int64_t obs_size = config.observation_size;
  std::vector<float> obs, rewards, log_probs;
  obs.reserve(static_cast<std::size_t>(steps * obs_size));
  for (const auto& a : acts) {
    obs.insert(obs.end(), a.obs.begin(), a.obs.end());
    rewards.push_back(static_cast<float>(a.reward));
    log_probs.push_back(static_cast<float>(a.logp));
  }
  encode(out.mutable_observations(), "float32", {steps, obs_size}, obs.data(), obs.size() * 4);
  encode(out.mutable_rewards(), "float32", {steps}, rewards.data(), rewards.size() * 4);
  encode(out.mutable_log_probs(), "float32", {steps}, log_probs.data(), log_probs.size() * 4);
  const int64_t n = static_cast<int64_t>(config.action.size());
  if (config.action.discrete()) {
    std::vector<int64_t> idx;
    for (const auto& a : acts) idx.push_back(a.index);
    encode(out.mutable_actions(), "int64", {steps}, idx.data(), idx.size() * 8);
    bool any_mask = false;
    for (const auto& a : acts) any_mask = any_mask || !a.mask.empty();
    if (any_mask) {
      std::vector<uint8_t> masks;
      for (const auto& a : acts) {
        if (a.mask.empty()) masks.insert(masks.end(), static_cast<std::size_t>(n), 1);
        else for (uint8_t v : a.mask) masks.push_back(v ? 1 : 0);
      }
      encode(out.mutable_masks(), "bool", {steps, n}, masks.data(), masks.size());
    }
  } else {
    std::vector<float> raw;
    for (const auto& a : acts) raw.insert(raw.end(), a.raw.begin(), a.raw.end());
    encode(out.mutable_actions(), "float32", {steps, n}, raw.data(), raw.size() * 4);
  }
  if (!next_obs.empty()) {
    encode(out.mutable_next_observation(), "float32", {obs_size}, next_obs.data(), next_obs.size() * 4);
  }
  return out;
}

}  // namespace iroko
