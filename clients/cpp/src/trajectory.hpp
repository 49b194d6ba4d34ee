// One ended trajectory as the Trajectory message, as iroko_gym/remote/client.py's _to_data and
// protocol.encode_trajectory build it: [T, obs] float32 observations, int64 (discrete) or
// [T, act] float32 raw (box) actions, float32 rewards and log-probabilities, [T, n] bool masks
// when any step had one (steps without a mask allow everything), the optional next observation.
#pragma once

#include <vector>

#include "iroko/client.hpp"
#include "snapshot.hpp"

namespace iroko {

pb::Trajectory encode_trajectory(const std::vector<Action>& actions, int64_t version, const ClientConfig& config,
                                 bool truncated, const std::vector<float>& next_obs);

}  // namespace iroko
