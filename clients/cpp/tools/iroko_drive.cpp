// A RemoteAgent driven line by line from stdin, for the cross-language tests and the benchmark.
//
//   iroko_drive CONFIG.json
//
// Commands (one JSON line answers each):
//   episodes COUNT LENGTH [nan|mask]
//                                 COUNT trajectories of LENGTH steps, reward 1 (NaN on the last
//                                 step with "nan": refused, MalformedMessage), observations
//                                 i/LENGTH in every entry; "mask"
//                                 allows only action 0 on odd steps (discrete actions)
//   flush SECONDS | close SECONDS | stats | metrics | refresh
//   bench N                       request_for_action latency p50/p99 and actions/s over N calls
//                                 (trajectory ended every 200), then the full decision loop rate
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>

#include "iroko/client.hpp"
#include "json.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::string with_stats(const std::string& head, const iroko::ClientStats& s) {
  return "{" + head + (head.empty() ? "" : ", ") + "\"stats\": " + s.to_json() + "}";
}

void episodes(iroko::RemoteAgent& agent, long count, long length, const std::string& flag) {
  const std::size_t size = static_cast<std::size_t>(agent.config().observation_size);
  const bool nan_last = flag == "nan";
  std::vector<uint8_t> only_first(agent.config().action.size(), 0);
  only_first[0] = 1;
  for (long e = 0; e < count; ++e) {
    iroko::Trajectory traj;
    for (long t = 0; t < length; ++t) {
      std::vector<float> obs(size, static_cast<float>(t) / static_cast<float>(length));
      iroko::Action a = agent.request_for_action(traj, obs, flag == "mask" && t % 2 ? only_first
                                                                                    : std::vector<uint8_t>{});
      if (flag == "mask" && t % 2 && a.index != 0) throw iroko::RemoteError("a masked-out action was chosen");
      a.update_reward(nan_last && t == length - 1 ? std::numeric_limits<double>::quiet_NaN() : 1.0);
      if (t == length - 1) agent.mark_end_of_trajectory(traj, a);
      else agent.add_to_trajectory(traj, a);
    }
  }
}

std::string bench(iroko::RemoteAgent& agent, long n) {
  const std::size_t size = static_cast<std::size_t>(agent.config().observation_size);
  std::mt19937_64 gen(0);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> observations(1024, std::vector<float>(size));
  for (auto& row : observations) for (float& v : row) v = normal(gen);
  std::vector<double> lat(static_cast<std::size_t>(n));
  iroko::Trajectory traj;
  for (long i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    iroko::Action a = agent.request_for_action(traj, observations[static_cast<std::size_t>(i & 1023)]);
    lat[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (i % 200 == 199) agent.mark_end_of_trajectory(traj, a);
  }
  double mean = 0;
  for (double v : lat) mean += v;
  mean /= static_cast<double>(n);
  std::vector<double> sorted = lat;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double q) { return sorted[static_cast<std::size_t>(q * static_cast<double>(n - 1))]; };
  auto start = Clock::now();
  iroko::Trajectory loop;
  for (long i = 0; i < n; ++i) {
    iroko::Action a = agent.request_for_action(loop, observations[static_cast<std::size_t>(i & 1023)]);
    a.update_reward(1.0);
    if (i % 200 == 199) agent.mark_end_of_trajectory(loop, a);
    else agent.add_to_trajectory(loop, a);
  }
  double loop_s = std::chrono::duration<double>(Clock::now() - start).count();
  return "{\"request_for_action_p50_us\": " + iroko::json::number(pct(0.5)) +
         ", \"request_for_action_p99_us\": " + iroko::json::number(pct(0.99)) +
         ", \"request_for_action_per_s\": " + iroko::json::number(1e6 / mean) +
         ", \"client_loop_actions_per_s\": " + iroko::json::number(static_cast<double>(n) / loop_s) + "}";
}

std::string metrics(iroko::RemoteAgent& agent) {
  iroko::LearnerMetrics m = agent.server_metrics();
  return "{\"version\": " + std::to_string(m.version) + ", \"trajectories_received\": " +
         std::to_string(m.trajectories_received) + ", \"steps_received\": " + std::to_string(m.steps_received) +
         ", \"steps_trained\": " + std::to_string(m.steps_trained) + ", \"episodes\": " + std::to_string(m.episodes) +
         ", \"queued\": " + std::to_string(m.queued) + "}";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: iroko_drive CONFIG.json  (commands on stdin)\n");
    return 2;
  }
  try {
    iroko::RemoteAgent agent(iroko::load_client_config(argv[1]));
    std::string line;
    std::printf("%s\n", with_stats("\"ready\": true", agent.stats()).c_str());
    std::fflush(stdout);
    while (std::getline(std::cin, line)) {
      std::istringstream in(line);
      std::string cmd;
      in >> cmd;
      std::string reply;
      try {
        if (cmd == "episodes") {
          long count = 0, length = 0;
          std::string flag;
          in >> count >> length >> flag;
          episodes(agent, count, length, flag);
          reply = with_stats("", agent.stats());
        } else if (cmd == "flush" || cmd == "close") {
          double timeout = 30;
          in >> timeout;
          bool ok = true;
          if (cmd == "flush") ok = agent.flush(timeout);
          else agent.close(timeout);
          reply = with_stats(std::string("\"ok\": ") + (ok ? "true" : "false"), agent.stats());
        } else if (cmd == "stats") {
          reply = with_stats("", agent.stats());
        } else if (cmd == "metrics") {
          reply = metrics(agent);
        } else if (cmd == "refresh") {
          reply = "{\"version\": " + std::to_string(agent.refresh_model()) + "}";
        } else if (cmd == "bench") {
          long n = 0;
          in >> n;
          if (n < 1) throw iroko::ConfigError("bench N: give N >= 1");
          reply = bench(agent, n);
        } else {
          throw iroko::ConfigError("unknown command '" + cmd + "'");
        }
      } catch (const iroko::Error& e) {
        reply = "{\"error\": " + iroko::json::quote(e.what()) + "}";
      }
      std::printf("%s\n", reply.c_str());
      std::fflush(stdout);
    }
  } catch (const iroko::Error& e) {
    std::fprintf(stderr, "iroko_drive: %s\n", e.what());
    return 1;
  }
  return 0;
}
