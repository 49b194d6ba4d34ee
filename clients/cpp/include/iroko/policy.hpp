// Model snapshots and local inference, as iroko_gym.remote.snapshots / policy do it in numpy:
// an MLP forward pass over plain float32 tensors (no LibTorch), a (masked) categorical or a
// Gaussian for PPO, epsilon-greedy argmax for DQN.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "iroko/config.hpp"

namespace iroko {

// A dense array as the wire carries it: numpy dtype name, shape, C-order little-endian bytes.
struct Tensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string data;

  std::size_t elements() const;
  std::size_t itemsize() const;
  // The values as float32 / float64 (float32 or float64 tensors; else RemoteError).
  std::vector<float> as_float() const;
  std::vector<double> as_double() const;
};

// One model version: named tensors plus scalars (e.g. epsilon). Never mutated once built.
struct Snapshot {
  int64_t version = 0;
  std::map<std::string, Tensor> tensors;
  std::map<std::string, double> scalars;
};

// The random source of local sampling (one per agent, shared by its policies).
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }
  double normal() { return normal_(engine_); }
  int64_t below(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(engine_); }

 private:
  std::mt19937_64 engine_;
  std::normal_distribution<double> normal_;
};

// What request_for_action decided: the action the system applies (`act`: index or clipped
// box values), what is recorded for learning (`raw`), and its log-probability.
struct Decision {
  int64_t index = 0;           // discrete actions
  std::vector<float> act;      // box actions, clipped to [low, high]
  std::vector<float> raw;      // box actions before clipping
  double logp = 0.0;
};

class LocalPolicy {
 public:
  LocalPolicy(std::shared_ptr<const Snapshot> snapshot, const std::string& algorithm,
              const std::string& activation, const ActionSpec& action);

  int64_t version() const { return snapshot_->version; }
  double epsilon() const { return epsilon_; }
  const Snapshot& snapshot() const { return *snapshot_; }

  // Logits, Gaussian mean or Q-values for one observation (observation_size floats).
  std::vector<float> forward(const float* obs) const;
  // Action probabilities of a discrete PPO policy (masked-out actions get 0); `mask` may be null.
  std::vector<double> probabilities(const float* obs, const uint8_t* mask) const;
  // Gaussian standard deviations (box actions).
  const std::vector<double>& std_dev() const { return std_; }
  // Sample a decision (`mask`, one byte per action, may be null).
  Decision act(const float* obs, const uint8_t* mask, Rng& rng) const;

 private:
  struct Layer {
    std::vector<float> weight;  // [out, in], row-major, as torch stores it
    std::vector<float> bias;
    std::size_t in = 0, out = 0;
  };
  void forward_into(const float* obs, std::vector<float>& a, std::vector<float>& b) const;
  Decision epsilon_greedy(const std::vector<float>& q, const uint8_t* mask, Rng& rng) const;

  std::shared_ptr<const Snapshot> snapshot_;
  bool dqn_;
  bool relu_;
  ActionSpec action_;
  std::vector<Layer> layers_;
  double epsilon_ = 0.0;
  std::vector<double> std_;
  double logp_const_ = 0.0;
};

}  // namespace iroko
