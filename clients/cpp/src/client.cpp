// RemoteAgent: local actions, a bounded upload buffer drained by one background thread with
// exponential backoff, model updates applied from Report replies. Same rules and counters as
// iroko_gym/remote/client.py.
#include "iroko/client.hpp"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "remote.grpc.pb.h"
#include "json.hpp"
#include "snapshot.hpp"
#include "trajectory.hpp"

namespace iroko {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kRpcTimeoutS = 10.0;
constexpr int kMaxMessageBytes = 256 * 1024 * 1024;

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "UNKNOWN";
  }
}

bool retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE: case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED: case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN: case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(what + " '" + path + "': cannot read it (missing or not readable)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// One ended trajectory waiting for upload.
struct Pending {
  std::shared_ptr<const pb::Trajectory> traj;
  int64_t steps;
  Clock::time_point at;
};

}  // namespace

int64_t Trajectory::version() const { return policy_ ? policy_->version() : 0; }

std::string ClientStats::to_json() const {
  const std::pair<const char*, int64_t> ints[] = {
      {"actions", actions}, {"buffered", buffered}, {"dropped_at_close", dropped_at_close},
      {"dropped_overflow", dropped_overflow}, {"dropped_rejected", dropped_rejected},
      {"full_models", full_models}};
  const std::pair<const char*, int64_t> more[] = {
      {"model_updates", model_updates}, {"send_failures", send_failures}, {"steps_sent", steps_sent},
      {"trajectories_ended", trajectories_ended}, {"trajectories_sent", trajectories_sent},
      {"version", version}};
  std::string out = "{";
  for (const auto& [k, v] : ints) out += json::quote(k) + ": " + std::to_string(v) + ", ";
  out += "\"last_error\": " + json::quote(last_error);
  for (const auto& [k, v] : more) out += ", " + json::quote(k) + ": " + std::to_string(v);
  return out + "}";
}

struct RemoteAgent::Impl {
  ClientConfig cfg;
  std::string activation;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::RemoteTrainer::Stub> stub;
  Rng rng;
  std::mt19937_64 jitter{std::random_device{}()};
  uint64_t serial = 0;

  mutable std::mutex model_mu;  // snapshot and policy
  std::shared_ptr<const Snapshot> snapshot;
  std::shared_ptr<const LocalPolicy> policy;

  mutable std::mutex mu;  // everything below
  std::condition_variable cv;
  std::deque<Pending> pending;
  bool closing = false, stop = false, done = false, closed = false;
  int flushing = 0;
  int64_t trajectories_ended = 0, trajectories_sent = 0, steps_sent = 0, dropped_overflow = 0,
          dropped_rejected = 0, dropped_at_close = 0, send_failures = 0;
  std::string last_error;
  std::atomic<int64_t> actions{0}, model_updates{0}, full_models{0};
  std::thread thread;

  explicit Impl(ClientConfig c)
      : cfg(std::move(c)), activation(cfg.activation()),
        rng(cfg.seed ? *cfg.seed : std::random_device{}()) {}

  void context(grpc::ClientContext& ctx, double timeout_s) const {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         std::chrono::duration<double>(timeout_s)));
    if (cfg.token) ctx.AddMetadata("authorization", "Bearer " + *cfg.token);
  }

  // A unary call; INVALID_ARGUMENT becomes ConfigError, every other failure RemoteError.
  template <class Method, class Req, class Rep>
  void call(Method method, const Req& request, Rep* reply, double timeout_s = kRpcTimeoutS,
            bool wait_for_ready = false) {
    if (!stub) throw RemoteError("the agent is closed");
    grpc::ClientContext ctx;
    context(ctx, timeout_s);
    ctx.set_wait_for_ready(wait_for_ready);
    grpc::Status status = (stub.get()->*method)(&ctx, request, reply);
    if (status.ok()) return;
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      throw ConfigError("server refused: " + status.error_message());
    }
    throw RemoteError(std::string(code_name(status.error_code())) + " from " + cfg.server_address + ": " +
                      status.error_message());
  }

  int64_t version() const {
    std::lock_guard<std::mutex> lock(model_mu);
    return policy ? policy->version() : 0;
  }

  void init(double timeout_s) {
    pb::InitRequest request;
    request.set_client_id(cfg.client_id);
    request.set_algorithm(cfg.algorithm);
    request.set_params_json(cfg.params_json);
    pb::Spec* spec = request.mutable_spec();
    spec->set_observation_size(cfg.observation_size);
    if (cfg.action.discrete()) {
      spec->mutable_action()->set_discrete_n(*cfg.action.n);
    } else {
      for (double v : cfg.action.low) spec->mutable_action()->mutable_box()->add_low(v);
      for (double v : cfg.action.high) spec->mutable_action()->mutable_box()->add_high(v);
    }
    pb::InitReply reply;
    call(&pb::RemoteTrainer::Stub::Init, request, &reply, timeout_s, true);
    apply(reply.model());
  }

  void apply(const pb::ModelUpdate& received) {
    std::lock_guard<std::mutex> lock(model_mu);
    if (snapshot && received.version() == snapshot->version && !received.full()) return;
    const pb::ModelUpdate* update = &received;
    pb::ModelUpdate full;
    if (!received.full() && (!snapshot || received.base_version() != snapshot->version)) {
      pb::ModelRequest request;
      request.set_client_id(cfg.client_id);
      request.set_have_version(0);
      call(&pb::RemoteTrainer::Stub::GetModel, request, &full);
      update = &full;
    }
    auto next = apply_update(snapshot, *update);
    auto next_policy = std::make_shared<const LocalPolicy>(next, cfg.algorithm, activation, cfg.action);
    snapshot = std::move(next);
    policy = std::move(next_policy);
    model_updates += 1;
    full_models += update->full() ? 1 : 0;
  }

  // A full batch, the flush interval, flush() or close(); false when done.
  bool next_batch(std::vector<Pending>& batch) {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      if (!pending.empty()) {
        auto age = Clock::now() - pending.front().at;
        auto interval = seconds(cfg.flush_interval_s);
        if (static_cast<int64_t>(pending.size()) >= cfg.batch_size || closing || flushing || age >= interval) {
          std::size_t count = std::min(pending.size(), static_cast<std::size_t>(cfg.batch_size));
          batch.assign(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(count));
          return true;
        }
        cv.wait_for(lock, interval - age);
      } else if (closing) {
        return false;
      } else {
        cv.wait(lock);
      }
    }
  }

  void upload_loop() {
    double backoff = cfg.backoff_initial_s;
    std::vector<Pending> batch;
    while (next_batch(batch)) {
      std::string error = send(batch);
      if (error.empty()) {
        backoff = cfg.backoff_initial_s;
        continue;
      }
      std::unique_lock<std::mutex> lock(mu);
      send_failures += 1;
      last_error = error;
      double wait = backoff * (0.5 + std::uniform_real_distribution<double>(0.0, 1.0)(jitter));
      if (cv.wait_for(lock, seconds(wait), [this] { return stop; })) break;
      backoff = std::min(backoff * 2, cfg.backoff_max_s);
    }
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  }

  // Upload `batch`; empty on success (or definitive rejection), else the error.
  std::string send(const std::vector<Pending>& batch) {
    pb::ReportRequest request;
    request.set_client_id(cfg.client_id);
    request.set_have_version(version());
    for (const auto& p : batch) *request.add_trajectories() = *p.traj;
    pb::ReportReply reply;
    grpc::ClientContext ctx;
    context(ctx, kRpcTimeoutS);
    grpc::Status status = stub->Report(&ctx, request, &reply);
    if (!status.ok()) {
      grpc::StatusCode code = status.error_code();
      std::string what = std::string(code_name(code)) + ": " + status.error_message();
      if (code == grpc::StatusCode::NOT_FOUND) {  // server restarted without this learner
        try {
          init(kRpcTimeoutS);
        } catch (const Error& e) {
          return e.what();
        }
        return what + " (re-initialised)";
      }
      if (retryable(code)) return what;
      settle(batch, true, what);
      return "";
    }
    settle(batch, false, "");
    if (reply.has_model()) {
      try {
        apply(reply.model());
      } catch (const Error& e) {
        std::lock_guard<std::mutex> lock(mu);
        last_error = e.what();
      }
    }
    return "";
  }

  // Remove `batch` (still at the front of the buffer unless overflow ate it).
  void settle(const std::vector<Pending>& batch, bool rejected, const std::string& error) {
    std::set<const pb::Trajectory*> sent;
    for (const auto& p : batch) sent.insert(p.traj.get());
    std::lock_guard<std::mutex> lock(mu);
    std::size_t removed = 0;
    while (!pending.empty() && sent.count(pending.front().traj.get())) {
      pending.pop_front();
      ++removed;
    }
    if (rejected) {
      dropped_rejected += static_cast<int64_t>(removed);
      last_error = error;
    } else {
      trajectories_sent += static_cast<int64_t>(removed);
      for (std::size_t i = 0; i < removed; ++i) steps_sent += batch[i].steps;
    }
    cv.notify_all();
  }
};

RemoteAgent::RemoteAgent(ClientConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
  Impl& m = *impl_;
  m.cfg.validate();
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (m.cfg.tls_ca_file) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = read_file(*m.cfg.tls_ca_file, "tls CA");
    creds = grpc::SslCredentials(options);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  m.channel = grpc::CreateCustomChannel(m.cfg.server_address, creds, args);
  m.stub = pb::RemoteTrainer::NewStub(m.channel);
  m.init(m.cfg.connect_timeout_s);  // on failure the channel goes with impl_
  m.thread = std::thread([&m] { m.upload_loop(); });
}

RemoteAgent::~RemoteAgent() { close(); }

Action RemoteAgent::request_for_action(Trajectory& traj, const std::vector<float>& obs,
                                       const std::vector<uint8_t>& mask) {
  Impl& m = *impl_;
  if (!traj.policy_ || traj.ended_) {
    traj.policy_ = policy();
    traj.actions_.clear();
    traj.ended_ = false;
  }
  if (static_cast<int64_t>(obs.size()) != m.cfg.observation_size) {
    throw ConfigError("observation has " + std::to_string(obs.size()) +
                      " values; the client config says observation_size=" +
                      std::to_string(m.cfg.observation_size));
  }
  check_values("observation", obs.data(), obs.size());
  if (!mask.empty()) {
    if (mask.size() != m.cfg.action.size() || !m.cfg.action.discrete()) {
      throw ConfigError("mask of length " + std::to_string(mask.size()) + " for an action of size " +
                        std::to_string(m.cfg.action.size()) +
                        ": masks need a discrete action and one entry per action");
    }
    bool any = false;
    for (uint8_t v : mask) any = any || v;
    if (!any) throw ConfigError("mask allows no action; allow at least one");
  }
  Decision d = traj.policy_->act(obs.data(), mask.empty() ? nullptr : mask.data(), m.rng);
  m.actions += 1;
  Action a;
  a.obs = obs;
  a.index = d.index;
  a.act = std::move(d.act);
  a.raw = std::move(d.raw);
  a.logp = d.logp;
  a.mask = mask;
  a.version = traj.policy_->version();
  a.serial = ++m.serial;
  return a;
}

void RemoteAgent::add_to_trajectory(Trajectory& traj, const Action& action) {
  if (traj.ended_) {
    throw RemoteError("this trajectory has ended; pass it to request_for_action to start a new one");
  }
  if (!traj.policy_) throw RemoteError("this trajectory has no action yet; call request_for_action first");
  traj.actions_.push_back(action);
}

void RemoteAgent::mark_end_of_trajectory(Trajectory& traj, const Action& action, bool truncated,
                                         const std::vector<float>& next_obs) {
  Impl& m = *impl_;
  if (traj.ended_) throw RemoteError("mark_end_of_trajectory called twice on one trajectory");
  if (!traj.policy_) throw RemoteError("this trajectory has no action yet; call request_for_action first");
  const int64_t obs_size = m.cfg.observation_size;
  if (!next_obs.empty() && static_cast<int64_t>(next_obs.size()) != obs_size) {
    throw ConfigError("next_obs has " + std::to_string(next_obs.size()) + " values; expected " +
                      std::to_string(obs_size));
  }
  check_values("next_obs", next_obs.data(), next_obs.size());
  if (traj.actions_.empty() || traj.actions_.back().serial != action.serial) traj.actions_.push_back(action);
  traj.ended_ = true;
  const int64_t steps = static_cast<int64_t>(traj.actions_.size());
  auto msg = std::make_shared<const pb::Trajectory>(
      encode_trajectory(traj.actions_, traj.version(), m.cfg, truncated, next_obs));
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.closing) throw RemoteError("the agent is closed");
  m.trajectories_ended += 1;
  if (static_cast<int64_t>(m.pending.size()) >= m.cfg.max_buffered_trajectories) {
    m.pending.pop_front();
    m.dropped_overflow += 1;
  }
  m.pending.push_back(Pending{std::move(msg), steps, Clock::now()});
  if (static_cast<int64_t>(m.pending.size()) >= m.cfg.batch_size) m.cv.notify_all();
}

const ClientConfig& RemoteAgent::config() const { return impl_->cfg; }

int64_t RemoteAgent::version() const { return impl_->version(); }

std::shared_ptr<const LocalPolicy> RemoteAgent::policy() const {
  std::lock_guard<std::mutex> lock(impl_->model_mu);
  return impl_->policy;
}

int64_t RemoteAgent::refresh_model() {
  Impl& m = *impl_;
  pb::ModelRequest request;
  request.set_client_id(m.cfg.client_id);
  request.set_have_version(m.version());
  pb::ModelUpdate reply;
  m.call(&pb::RemoteTrainer::Stub::GetModel, request, &reply);
  m.apply(reply);
  return m.version();
}

bool RemoteAgent::wait_for_model(int64_t newer_than, double timeout_s, double poll_s) {
  auto deadline = Clock::now() + seconds(timeout_s);
  if (!flush(timeout_s)) return false;
  while (version() <= newer_than) {
    if (Clock::now() >= deadline) return false;
    try {
      refresh_model();
    } catch (const RemoteError& e) {
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->last_error = e.what();
    }
    if (version() <= newer_than) std::this_thread::sleep_for(seconds(poll_s));
  }
  return true;
}

LearnerMetrics RemoteAgent::server_metrics() {
  Impl& m = *impl_;
  pb::MetricsRequest request;
  request.set_client_id(m.cfg.client_id);
  pb::MetricsReply reply;
  m.call(&pb::RemoteTrainer::Stub::Metrics, request, &reply);
  if (reply.learners_size() == 0) throw RemoteError("the server has no learner for " + m.cfg.client_id);
  const pb::LearnerMetrics& l = reply.learners(0);
  LearnerMetrics out;
  out.client_id = l.client_id();
  out.algorithm = l.algorithm();
  out.version = l.version();
  out.trajectories_received = l.trajectories_received();
  out.steps_received = l.steps_received();
  out.trajectories_trained = l.trajectories_trained();
  out.stale_dropped = l.stale_dropped();
  out.updates = l.updates();
  out.episodes = l.episodes();
  out.queued = l.queued();
  out.steps_trained = l.steps_trained();
  for (const auto& [k, v] : l.last()) out.last[k] = v;
  return out;
}

bool RemoteAgent::wait_for_learner(double timeout_s, double poll_s) {
  auto deadline = Clock::now() + seconds(timeout_s);
  if (!flush(timeout_s)) return false;
  while (server_metrics().queued > 0) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(seconds(poll_s));
  }
  return true;
}

ClientStats RemoteAgent::stats() const {
  const Impl& m = *impl_;
  ClientStats s;
  s.version = version();
  std::lock_guard<std::mutex> lock(m.mu);
  s.actions = m.actions;
  s.trajectories_ended = m.trajectories_ended;
  s.trajectories_sent = m.trajectories_sent;
  s.steps_sent = m.steps_sent;
  s.buffered = static_cast<int64_t>(m.pending.size());
  s.dropped_overflow = m.dropped_overflow;
  s.dropped_rejected = m.dropped_rejected;
  s.dropped_at_close = m.dropped_at_close;
  s.send_failures = m.send_failures;
  s.model_updates = m.model_updates;
  s.full_models = m.full_models;
  s.last_error = m.last_error;
  return s;
}

bool RemoteAgent::flush(double timeout_s) {
  Impl& m = *impl_;
  auto deadline = Clock::now() + seconds(timeout_s);
  std::unique_lock<std::mutex> lock(m.mu);
  m.flushing += 1;  // partial batches go out now, not after flush_interval_s
  m.cv.notify_all();
  bool ok = m.cv.wait_until(lock, deadline, [&m] { return m.pending.empty(); });
  m.flushing -= 1;
  return ok;
}

void RemoteAgent::close(double timeout_s) {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.mu);
  if (m.closing) return;
  m.closing = true;
  m.cv.notify_all();
  m.cv.wait_for(lock, seconds(timeout_s), [&m] { return m.done; });
  m.stop = true;
  m.dropped_at_close += static_cast<int64_t>(m.pending.size());
  m.pending.clear();
  m.cv.notify_all();
  lock.unlock();
  if (m.thread.joinable()) m.thread.join();
  m.stub.reset();
  m.channel.reset();
}

}  // namespace iroko
