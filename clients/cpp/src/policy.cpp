// Local inference, step for step as iroko_gym/remote/policy.py does it in numpy: float32
// layers (x @ W^T, then + b, then tanh/relu), float64 softmax, float64 Gaussian log-density.
#include "iroko/policy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "iroko/errors.hpp"

namespace iroko {
namespace {

const double kLog2Pi = std::log(2.0 * M_PI);

const Tensor& tensor(const Snapshot& s, const std::string& name) {
  auto it = s.tensors.find(name);
  if (it == s.tensors.end()) {
    throw RemoteError("model version " + std::to_string(s.version) + " has no " + name + " tensor");
  }
  return it->second;
}

}  // namespace

LocalPolicy::LocalPolicy(std::shared_ptr<const Snapshot> snapshot, const std::string& algorithm,
                         const std::string& activation, const ActionSpec& action)
    : snapshot_(std::move(snapshot)), dqn_(algorithm == "DQN"), relu_(activation == "relu"), action_(action) {
  const Snapshot& s = *snapshot_;
  const std::string prefix = dqn_ ? "q" : "actor";
  for (std::size_t i = 0;; ++i) {
    std::string base = prefix + "." + std::to_string(i);
    if (!s.tensors.count(base + ".weight")) break;
    const Tensor& w = tensor(s, base + ".weight");
    const Tensor& b = tensor(s, base + ".bias");
    Layer layer;
    if (w.shape.size() != 2 || b.shape.size() != 1 || b.shape[0] != w.shape[0]) {
      throw RemoteError("model version " + std::to_string(s.version) + ": " + base +
                        " weight/bias shapes do not form a linear layer");
    }
    layer.out = static_cast<std::size_t>(w.shape[0]);
    layer.in = static_cast<std::size_t>(w.shape[1]);
    std::size_t expect_in = layers_.empty() ? layer.in : layers_.back().out;
    if (layer.in != expect_in) {
      throw RemoteError(base + ".weight takes " + std::to_string(layer.in) + " inputs where the previous layer gives " +
                        std::to_string(expect_in));
    }
    std::vector<float> weight = w.as_float();
    layer.weight.resize(weight.size());  // stored transposed [in, out], as policy.py does
    for (std::size_t o = 0; o < layer.out; ++o)
      for (std::size_t k = 0; k < layer.in; ++k) layer.weight[k * layer.out + o] = weight[o * layer.in + k];
    layer.bias = b.as_float();
    layers_.push_back(std::move(layer));
  }
  if (layers_.empty()) {
    throw RemoteError("model version " + std::to_string(s.version) + " has no " + prefix + ".0.weight tensor");
  }
  if (layers_.back().out != action_.size()) {
    throw RemoteError("model version " + std::to_string(s.version) + " has " + std::to_string(layers_.back().out) +
                      " outputs; the action needs " + std::to_string(action_.size()));
  }
  auto eps = s.scalars.find("epsilon");
  epsilon_ = eps == s.scalars.end() ? 0.0 : eps->second;
  if (!action_.discrete()) {
    std::vector<double> log_std = tensor(s, "log_std").as_double();
    if (log_std.size() != action_.size()) {
      throw RemoteError("log_std has " + std::to_string(log_std.size()) + " values; the action has " +
                        std::to_string(action_.size()));
    }
    double sum = 0.0;
    for (double v : log_std) {
      std_.push_back(std::exp(v));
      sum += v;
    }
    logp_const_ = -sum - 0.5 * kLog2Pi * static_cast<double>(action_.size());
  }
}

// y = x @ W^T + b for every output at once (the row-of-W^T loop vectorises; no reassociation,
// so each output is summed in input order), then the activation on hidden layers.
static void linear(const float* __restrict x, const float* __restrict wt, const float* __restrict bias,
                   float* __restrict y, std::size_t in, std::size_t out) {
  for (std::size_t o = 0; o < out; ++o) y[o] = 0.0f;
  for (std::size_t k = 0; k < in; ++k) {
    const float xk = x[k];
    const float* __restrict row = wt + k * out;
    for (std::size_t o = 0; o < out; ++o) y[o] += xk * row[o];
  }
  for (std::size_t o = 0; o < out; ++o) y[o] += bias[o];
}

void LocalPolicy::forward_into(const float* obs, std::vector<float>& a, std::vector<float>& b) const {
  a.assign(obs, obs + layers_.front().in);
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    b.resize(layer.out);
    linear(a.data(), layer.weight.data(), layer.bias.data(), b.data(), layer.in, layer.out);
    if (l + 1 < layers_.size()) {
      float* y = b.data();
      if (relu_) {
        for (std::size_t o = 0; o < layer.out; ++o) y[o] = std::max(y[o], 0.0f);
      } else {
        for (std::size_t o = 0; o < layer.out; ++o) y[o] = std::tanh(y[o]);
      }
    }
    std::swap(a, b);
  }
}

std::vector<float> LocalPolicy::forward(const float* obs) const {
  std::vector<float> a, b;
  forward_into(obs, a, b);
  return a;
}

std::vector<double> LocalPolicy::probabilities(const float* obs, const uint8_t* mask) const {
  if (!action_.discrete() || dqn_) throw ConfigError("probabilities need a discrete PPO policy");
  std::vector<float> logits = forward(obs);
  std::vector<double> p(logits.size());
  double top = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] = (mask == nullptr || mask[i]) ? static_cast<double>(logits[i]) : -std::numeric_limits<double>::infinity();
    top = std::max(top, p[i]);
  }
  double sum = 0.0;
  for (double& v : p) sum += (v = std::exp(v - top));
  for (double& v : p) v /= sum;
  return p;
}

Decision LocalPolicy::act(const float* obs, const uint8_t* mask, Rng& rng) const {
  thread_local std::vector<float> a, b;
  forward_into(obs, a, b);
  Decision d;
  const std::size_t n = a.size();
  if (!action_.discrete()) {
    d.raw.resize(n);
    d.act.resize(n);
    double zz = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      float raw = static_cast<float>(static_cast<double>(a[i]) + std_[i] * rng.normal());
      double z = static_cast<double>(raw - a[i]) / std_[i];
      zz += z * z;
      d.raw[i] = raw;
      d.act[i] = std::clamp(raw, static_cast<float>(action_.low[i]), static_cast<float>(action_.high[i]));
    }
    d.logp = logp_const_ - 0.5 * zz;
    return d;
  }
  if (dqn_) return epsilon_greedy(a, mask, rng);
  // Masked softmax and inverse-CDF sampling (np.searchsorted(cdf, u * cdf[-1], "right")).
  thread_local std::vector<double> cdf;
  cdf.resize(n);
  double top = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < n; ++i)
    if (mask == nullptr || mask[i]) top = std::max(top, static_cast<double>(a[i]));
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    total += (mask == nullptr || mask[i]) ? std::exp(static_cast<double>(a[i]) - top) : 0.0;
    cdf[i] = total;
  }
  const double u = rng.uniform() * total;
  std::size_t index = static_cast<std::size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  index = std::min(index, n - 1);
  d.index = static_cast<int64_t>(index);
  d.logp = std::log(std::exp(static_cast<double>(a[index]) - top) / total);
  return d;
}

Decision LocalPolicy::epsilon_greedy(const std::vector<float>& q, const uint8_t* mask, Rng& rng) const {
  Decision d;
  if (rng.uniform() < epsilon_) {
    if (mask == nullptr) {
      d.index = rng.below(static_cast<int64_t>(q.size()));
    } else {
      std::vector<int64_t> allowed;
      for (std::size_t i = 0; i < q.size(); ++i)
        if (mask[i]) allowed.push_back(static_cast<int64_t>(i));
      d.index = allowed[static_cast<std::size_t>(rng.below(static_cast<int64_t>(allowed.size())))];
    }
    return d;
  }
  float best = -std::numeric_limits<float>::infinity();
  bool found = false;
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (mask != nullptr && !mask[i]) continue;
    if (!found || q[i] > best) { best = q[i]; d.index = static_cast<int64_t>(i); found = true; }
  }
  return d;
}

}  // namespace iroko
