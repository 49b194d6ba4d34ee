// CartPole-v1's dynamics in C++: the same constants, Euler integration, termination bounds,
// reward and 500-step time limit as gymnasium.envs.classic_control.CartPoleEnv (checked step
// for step against it by tests/integration/remote/test_cpp_client.py).
#pragma once

#include <array>
#include <cmath>
#include <random>
#include <vector>

namespace cartpole {

struct Step {
  std::vector<float> obs;
  double reward;
  bool terminated;
  bool truncated;
};

class CartPole {
 public:
  static constexpr double kGravity = 9.8, kMassCart = 1.0, kMassPole = 0.1;
  static constexpr double kTotalMass = kMassPole + kMassCart, kLength = 0.5;
  static constexpr double kPoleMassLength = kMassPole * kLength, kForceMag = 10.0, kTau = 0.02;
  static constexpr double kThetaThreshold = 12 * 2 * M_PI / 360, kXThreshold = 2.4;
  static constexpr int kMaxSteps = 500;

  explicit CartPole(uint64_t seed) : rng_(seed) {}

  // A new episode: every state variable uniform in [-0.05, 0.05).
  std::vector<float> reset() {
    std::uniform_real_distribution<double> u(-0.05, 0.05);
    for (double& v : state_) v = u(rng_);
    steps_ = 0;
    return obs();
  }

  // Start from an explicit state (x, x_dot, theta, theta_dot), for the step-for-step check.
  std::vector<float> reset_to(const std::array<double, 4>& state) {
    state_ = state;
    steps_ = 0;
    return obs();
  }

  Step step(int action) {
    auto [x, x_dot, theta, theta_dot] = state_;
    const double force = action == 1 ? kForceMag : -kForceMag;
    const double costheta = std::cos(theta), sintheta = std::sin(theta);
    const double temp = (force + kPoleMassLength * (theta_dot * theta_dot) * sintheta) / kTotalMass;
    const double thetaacc = (kGravity * sintheta - costheta * temp) /
                            (kLength * (4.0 / 3.0 - kMassPole * (costheta * costheta) / kTotalMass));
    const double xacc = temp - kPoleMassLength * thetaacc * costheta / kTotalMass;
    x = x + kTau * x_dot;
    x_dot = x_dot + kTau * xacc;
    theta = theta + kTau * theta_dot;
    theta_dot = theta_dot + kTau * thetaacc;
    state_ = {x, x_dot, theta, theta_dot};
    ++steps_;
    const bool terminated = x < -kXThreshold || x > kXThreshold || theta < -kThetaThreshold ||
                            theta > kThetaThreshold;
    return {obs(), 1.0, terminated, steps_ >= kMaxSteps};  // the TimeLimit wrapper
  }

  const std::array<double, 4>& state() const { return state_; }

 private:
  std::vector<float> obs() const { return {static_cast<float>(state_[0]), static_cast<float>(state_[1]),
                                           static_cast<float>(state_[2]), static_cast<float>(state_[3])}; }

  std::mt19937_64 rng_;
  std::array<double, 4> state_{};
  int steps_ = 0;
};

}  // namespace cartpole
