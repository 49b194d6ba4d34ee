// CartPole (dynamics in C++) trained by PPO through iroko_gym's remote server: the loop a
// C++ system runs inline, in lock step with the learner like iroko_gym.remote.gym_driver.drive.
//
//   python -m iroko_gym.remote.server --port 50051 &
//   cartpole_remote --address 127.0.0.1:50051 --steps 300000 --target 475
//   cartpole_remote --trace < states_and_actions.txt     (dynamics only, no server)
//
// Prints one JSON line: steps, episodes, mean return of the last 100 episodes, seconds, stats.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <numeric>
#include <string>

#include "cartpole.hpp"
#include "iroko/client.hpp"

namespace {

struct Options {
  std::string address = "127.0.0.1:50051";
  std::string client_id = "cartpole-cpp";
  long steps = 300000;
  double target = 0.0;  // stop once the mean of the last 100 episodes reaches this (0: never)
  uint64_t seed = 0;
  long rollout_steps = 1024;
  bool trace = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "cartpole_remote: %s\nusage: cartpole_remote [--address host:port] [--client-id ID] "
               "[--steps N] [--target R] [--seed S] [--rollout-steps N] | --trace\n", why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
      return argv[++i];
    };
    auto number = [&](const std::string& text) {
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || v < 0) usage((arg + " needs a number >= 0, got '" + text + "'").c_str());
      return v;
    };
    if (arg == "--address") o.address = value();
    else if (arg == "--client-id") o.client_id = value();
    else if (arg == "--steps") o.steps = static_cast<long>(number(value()));
    else if (arg == "--target") o.target = number(value());
    else if (arg == "--seed") o.seed = static_cast<uint64_t>(number(value()));
    else if (arg == "--rollout-steps") o.rollout_steps = static_cast<long>(number(value()));
    else if (arg == "--trace") o.trace = true;
    else usage(("unknown option " + arg).c_str());
  }
  if (o.steps < 1 || o.rollout_steps < 1) usage("--steps and --rollout-steps must be >= 1");
  return o;
}

// Reads "x x_dot theta theta_dot" then one action per line (0/1); prints each step's state,
// reward and flags with round-trip precision.
int trace() {
  std::array<double, 4> state{};
  if (!(std::cin >> state[0] >> state[1] >> state[2] >> state[3])) usage("--trace: give the initial state first");
  cartpole::CartPole env(0);
  env.reset_to(state);
  int action;
  while (std::cin >> action) {
    if (action != 0 && action != 1) usage("--trace: actions are 0 or 1");
    cartpole::Step s = env.step(action);
    const auto& st = env.state();
    std::printf("%.17g %.17g %.17g %.17g %g %d %d\n", st[0], st[1], st[2], st[3], s.reward, s.terminated,
                s.truncated);
  }
  return 0;
}

double mean_tail(const std::deque<double>& returns) {
  return returns.empty() ? 0.0 : std::accumulate(returns.begin(), returns.end(), 0.0) / returns.size();
}

int train(const Options& o) {
  iroko::ClientConfig config;
  config.client_id = o.client_id;
  config.observation_size = 4;
  config.action.n = 2;
  config.algorithm = "PPO";
  config.params_json = "{\"rollout_steps\": " + std::to_string(o.rollout_steps) +
                       ", \"learning_rate\": 0.0003, \"target_kl\": null, \"seed\": " + std::to_string(o.seed) + "}";
  config.server_address = o.address;
  config.flush_interval_s = 0.05;
  config.seed = o.seed;

  auto start = std::chrono::steady_clock::now();
  iroko::RemoteAgent agent(config);
  cartpole::CartPole env(o.seed);
  std::vector<float> obs = env.reset();
  iroko::Trajectory traj;
  std::deque<double> last100;
  long episodes = 0, since_version = 0, step = 1, reached_at = 0;
  double ret = 0.0;
  for (; step <= o.steps; ++step) {
    iroko::Action a = agent.request_for_action(traj, obs);
    cartpole::Step s = env.step(static_cast<int>(a.index));
    a.update_reward(s.reward);
    ret += s.reward;
    ++since_version;
    obs = s.obs;
    bool done = s.terminated || s.truncated;
    if (!done && step < o.steps) {
      agent.add_to_trajectory(traj, a);
      continue;
    }
    agent.mark_end_of_trajectory(traj, a, !s.terminated, obs);
    if (done) {
      ++episodes;
      last100.push_back(ret);
      if (last100.size() > 100) last100.pop_front();
      ret = 0.0;
      obs = env.reset();
      if (o.target > 0 && last100.size() == 100 && mean_tail(last100) >= o.target) {
        reached_at = step;
        break;
      }
    }
    if (step < o.steps && since_version >= o.rollout_steps) {
      if (!agent.wait_for_model(traj.version(), 120.0)) {
        std::fprintf(stderr, "cartpole_remote: the learner did not catch up within 120 s; last error: %s\n",
                     agent.stats().last_error.c_str());
        return 1;
      }
      since_version = 0;
    }
  }
  agent.close();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  iroko::ClientStats stats = agent.stats();
  std::printf("{\"steps\": %ld, \"episodes\": %ld, \"mean_return_last_100\": %.3f, \"target_reached_at\": %ld, "
              "\"seconds\": %.2f, \"stats\": %s}\n",
              std::min(step, o.steps), episodes, mean_tail(last100), reached_at, seconds, stats.to_json().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (o.trace) return trace();
  try {
    return train(o);
  } catch (const iroko::Error& e) {
    std::fprintf(stderr, "cartpole_remote: %s\n", e.what());
    return 1;
  }
}
