// The client a real system calls at each decision point; the C++ twin of
// iroko_gym.remote.client.RemoteAgent (same calls, same upload, retry and drop rules).
//
//   iroko::RemoteAgent agent(iroko::load_client_config("client.json"));
//   iroko::Trajectory traj;
//   iroko::Action a = agent.request_for_action(traj, obs);
//   a.update_reward(r);
//   agent.add_to_trajectory(traj, a);          // or mark_end_of_trajectory(traj, a, ...)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "iroko/config.hpp"
#include "iroko/errors.hpp"
#include "iroko/policy.hpp"

namespace iroko {

// One decision: `index` (discrete) or `act` (box) is what the system applies.
struct Action {
  std::vector<float> obs;
  int64_t index = 0;
  std::vector<float> act;
  std::vector<float> raw;
  double logp = 0.0;
  std::vector<uint8_t> mask;  // empty: every action allowed
  int64_t version = 0;
  double reward = 0.0;
  uint64_t serial = 0;        // which request_for_action made it (0: none)

  // Finite and within kMaxMagnitude, else MalformedMessage (as the Python client).
  void update_reward(double r) {
    check_value("reward", r);
    reward = r;
  }
};

// Actions collected with one model version; ended by mark_end_of_trajectory. A default or
// ended trajectory passed to request_for_action restarts on the newest local model.
class Trajectory {
 public:
  int64_t version() const;
  std::size_t size() const { return actions_.size(); }
  bool ended() const { return ended_; }
  const std::vector<Action>& actions() const { return actions_; }

 private:
  friend class RemoteAgent;
  std::shared_ptr<const LocalPolicy> policy_;
  std::vector<Action> actions_;
  bool ended_ = false;
};

// What happened to everything this agent produced (nothing is dropped silently).
struct ClientStats {
  int64_t actions = 0;
  int64_t trajectories_ended = 0;
  int64_t trajectories_sent = 0;
  int64_t steps_sent = 0;
  int64_t buffered = 0;
  int64_t dropped_overflow = 0;   // oldest unsent trajectories dropped when the buffer was full
  int64_t dropped_rejected = 0;   // refused by the server as malformed (INVALID_ARGUMENT)
  int64_t dropped_at_close = 0;   // still unsent when close() gave up
  int64_t send_failures = 0;      // failed upload attempts (retried)
  int64_t model_updates = 0;
  int64_t full_models = 0;
  int64_t version = 0;
  std::string last_error;

  // One JSON object with sorted keys, like describe_stats() of the Python client.
  std::string to_json() const;
};

// The server's counters for one client id (the proto's LearnerMetrics).
struct LearnerMetrics {
  std::string client_id;
  std::string algorithm;
  int64_t version = 0;
  int64_t trajectories_received = 0;
  int64_t steps_received = 0;
  int64_t trajectories_trained = 0;
  int64_t stale_dropped = 0;
  int64_t updates = 0;
  int64_t episodes = 0;
  int64_t queued = 0;
  int64_t steps_trained = 0;
  std::map<std::string, double> last;
};

class RemoteAgent {
 public:
  // Connects (waiting up to connect_timeout_s), creates or joins the learner, fetches the
  // model and starts the uploader thread. Throws ConfigError / RemoteError.
  explicit RemoteAgent(ClientConfig config);
  ~RemoteAgent();  // close()
  RemoteAgent(const RemoteAgent&) = delete;
  RemoteAgent& operator=(const RemoteAgent&) = delete;

  // An action for `obs` (observation_size values); `mask` (one entry per discrete action,
  // nonzero = allowed) may be empty. Restarts `traj` on the newest model if it is new or ended.
  Action request_for_action(Trajectory& traj, const std::vector<float>& obs,
                            const std::vector<uint8_t>& mask = {});
  // Record `action` (with its reward) as the next step of `traj`.
  void add_to_trajectory(Trajectory& traj, const Action& action);
  // End `traj` with `action` (added if it is not its last step yet) and queue it for upload.
  // truncated: the episode was cut short, not finished; pass next_obs then for bootstrapping.
  void mark_end_of_trajectory(Trajectory& traj, const Action& action, bool truncated = false,
                              const std::vector<float>& next_obs = {});

  const ClientConfig& config() const;
  int64_t version() const;                      // of the model new trajectories use
  std::shared_ptr<const LocalPolicy> policy() const;
  int64_t refresh_model();                      // fetch the newest model now; its version
  // Flush, then wait until a model newer than `newer_than` is local; false on timeout.
  bool wait_for_model(int64_t newer_than, double timeout_s = 60.0, double poll_s = 0.01);
  // Flush, then wait until the learner has consumed everything; false on timeout.
  bool wait_for_learner(double timeout_s = 60.0, double poll_s = 0.01);
  LearnerMetrics server_metrics();

  ClientStats stats() const;
  bool flush(double timeout_s = 30.0);          // every ended trajectory uploaded; false on timeout
  // Flush (up to timeout_s), stop the uploader, close the channel; idempotent. Trajectories
  // still unsent then are counted in stats().dropped_at_close.
  void close(double timeout_s = 30.0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iroko
