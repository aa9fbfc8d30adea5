#include "upstream/publisher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/guard.h"
#include "upstream/message_codec.h"

namespace edgevision::upstream {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::string_view kTwinResponsePrefix = "$iothub/twin/res/";
constexpr std::string_view kDesiredPatchPrefix = "$iothub/twin/PATCH/properties/desired/";
constexpr auto kTwinRetry = std::chrono::seconds(30);
constexpr auto kEnqueueLogInterval = std::chrono::seconds(10);

std::string ConnackText(int code) {
  switch (code) {
    case 1: return "unacceptable protocol version";
    case 2: return "client identifier rejected";
    case 3: return "server unavailable";
    case 4: return "bad user name or password";
    case 5: return "not authorised";
    default: return "return code " + std::to_string(code);
  }
}

bool Matches(const PublishRule& rule, const std::string& tag, double probability) {
  if (!rule.tags.empty() && std::find(rule.tags.begin(), rule.tags.end(), tag) == rule.tags.end())
    return false;
  return probability >= rule.min_probability && probability <= rule.max_probability;
}

// A classifier's tags or a detector's boxes.
bool Matches(const PublishRule& rule, const PredictionInput& input) {
  for (const MessagePrediction& p : input.predictions) {
    if (Matches(rule, p.tag, p.probability)) return true;
  }
  if (input.detections) {
    for (const MessageDetection& d : *input.detections) {
      if (Matches(rule, d.tag, d.probability)) return true;
    }
  }
  return false;
}

// "rid" from "...?$rid=7&$version=3", or "".
std::string QueryValue(std::string_view topic, std::string_view key) {
  const size_t q = topic.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = topic.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.size() > key.size() && pair.substr(0, key.size()) == key && pair[key.size()] == '=') {
      return std::string(pair.substr(key.size() + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string DescribeRule(const PublishRule& r) {
  std::string tags;
  for (const std::string& t : r.tags) tags += (tags.empty() ? "" : ",") + t;
  return fmt::format("{}, probability [{:g}, {:g}], tags {}", r.enabled ? "on" : "off",
                     r.min_probability, r.max_probability, tags.empty() ? "any" : tags);
}

}  // namespace

Publisher::Publisher(PublisherConfig config, std::unique_ptr<Outbox> outbox,
                     std::unique_ptr<MqttTransport> transport,
                     std::unique_ptr<Credentials> credentials, PublisherHooks hooks,
                     const Clock& clock)
    : config_(std::move(config)),
      outbox_(std::move(outbox)),
      transport_(std::move(transport)),
      credentials_(std::move(credentials)),
      hooks_(std::move(hooks)),
      clock_(clock) {
  const auto now = clock_.Monotonic();
  next_attempt_ = now;
  next_expire_ = now + config_.limits.expire_interval;
  next_model_check_ = now;
  rule_ = config_.rule;
  status_.kind = std::string(TargetKindName(config_.kind));
  status_.target = config_.description;
  status_.state = "waiting";
  status_.rule = rule_;
}

Publisher::~Publisher() {
  Stop();
}

void Publisher::Start() {
  if (started_.exchange(true)) return;
  spdlog::info("upstream: publishing to {} (outbox {}, {} messages waiting)", config_.description,
               outbox_->path(), outbox_->Stats().depth);
  thread_ = GuardedThread("upstream publisher", [this] { ThreadMain(); });
}

void Publisher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_requested_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (state_ != State::kStopped) {
    transport_->Disconnect();
    state_ = State::kStopped;
  }
  std::unique_lock<std::shared_mutex> outbox_lock(outbox_mu_);
  if (outbox_) {
    final_stats_ = outbox_->Stats();
    outbox_.reset();  // closes the database (checkpoints the WAL)
    std::lock_guard<std::mutex> lock(mu_);
    status_.state = "stopped";
    status_.connected = false;
    spdlog::info("upstream: stopped; {} messages kept in the outbox for the next start",
                 final_stats_.depth);
  }
}

void Publisher::ThreadMain() {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_requested_) break;
    }
    RunOnce();
    if (state_ == State::kWaiting) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, config_.limits.loop_tick, [this] { return stop_requested_; });
    }
  }
  // Give outstanding PUBACKs a moment so they are not resent after restart.
  if (state_ == State::kConnected && !in_flight_.empty()) {
    const auto deadline = clock_.Monotonic() + config_.limits.stop_drain;
    while (state_ == State::kConnected && !in_flight_.empty() && clock_.Monotonic() < deadline) {
      transport_->Loop(config_.limits.loop_tick);
      RemoveAcknowledged();
      if (lost_) break;
    }
  }
  transport_->Disconnect();
  RemoveAcknowledged();
  state_ = State::kStopped;
  PublishLoopStatus();
}

bool Publisher::Enqueue(const PredictionInput& input) {
  PublishRule rule;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rule = rule_;
  }
  if (!rule.enabled || !Matches(rule, input)) {
    std::lock_guard<std::mutex> lock(mu_);
    ++status_.filtered;
    return false;
  }
  PredictionMessage message;
  message.id = input.id;
  message.timestamp = input.created;
  message.route = input.route;
  message.project = input.project;
  message.iteration = input.iteration;
  message.model_iteration_id = input.model_iteration_id;
  message.model_sha1 = input.model_sha1;
  message.predictions = input.predictions;
  message.detections = input.detections;
  if (input.captured) message.capture_id = input.id;

  Result<uint64_t> seq = Unavailable("the upstream publisher is stopped");
  {
    std::shared_lock<std::shared_mutex> outbox_lock(outbox_mu_);
    if (outbox_) {
      seq = outbox_->Append([&message](uint64_t s, const std::string& stream) {
        message.seq = s;
        message.stream = stream;
        return EncodeMessage(message);
      });
    }
  }
  if (seq.ok()) return true;

  const std::string error = "cannot store result " + input.id + ": " + seq.status().message();
  bool log_now = false;
  uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++status_.enqueue_failures;
    status_.last_error = error;
    status_.last_error_at = clock_.Now();
    const auto now = clock_.Monotonic();
    if (now - last_enqueue_log_ >= kEnqueueLogInterval) {
      log_now = true;
      suppressed = unlogged_enqueue_failures_;
      unlogged_enqueue_failures_ = 0;
      last_enqueue_log_ = now;
    } else {
      ++unlogged_enqueue_failures_;
    }
  }
  if (log_now) {
    spdlog::error(
        "upstream: {}{}", error,
        suppressed ? " (and " + std::to_string(suppressed) + " more failures since the last report)"
                   : "");
  }
  return false;
}

void Publisher::SetCaptureHandler(std::function<Status(const DesiredCapture&)> handler) {
  std::optional<DesiredCapture> desired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    capture_handler_ = handler;
    desired = desired_capture_;
  }
  if (desired && handler) {
    Status s = handler(*desired);
    std::lock_guard<std::mutex> lock(mu_);
    capture_status_ = s.ok() ? "applied" : s.message();
  }
}

void Publisher::SetModelHandler(std::function<Status(const DesiredModel&)> handler) {
  std::optional<DesiredModel> desired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    model_handler_ = handler;
    desired = desired_model_;
  }
  if (desired && handler) {
    Status s = handler(*desired);
    std::lock_guard<std::mutex> lock(mu_);
    model_request_error_ = s.ok() ? "" : s.message();
  }
}

void Publisher::SetSourcesHandler(SourcesHandler handler) {
  std::optional<std::map<std::string, std::string>> desired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sources_handler_ = handler;
    desired = desired_sources_;
  }
  if (desired && handler) {
    handler(*desired);
    report_soon_ = true;
  }
}

void Publisher::SetSourcesReporter(std::function<ReportedSources()> reporter) {
  std::lock_guard<std::mutex> lock(mu_);
  sources_reporter_ = std::move(reporter);
}

void Publisher::SetDeliveryReporter(std::function<std::optional<ReportedDelivery>()> reporter) {
  std::lock_guard<std::mutex> lock(mu_);
  delivery_reporter_ = std::move(reporter);
}

UpstreamStatus Publisher::GetStatus() const {
  UpstreamStatus status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status = status_;
  }
  std::shared_lock<std::shared_mutex> outbox_lock(outbox_mu_);
  status.outbox = outbox_ ? outbox_->Stats() : final_stats_;
  return status;
}

void Publisher::SetError(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  status_.last_error = error;
  status_.last_error_at = clock_.Now();
}

void Publisher::PublishLoopStatus() {
  std::lock_guard<std::mutex> lock(mu_);
  switch (state_) {
    case State::kWaiting: status_.state = "waiting"; break;
    case State::kConnecting: status_.state = "connecting"; break;
    case State::kConnected: status_.state = "connected"; break;
    case State::kStopped: status_.state = "stopped"; break;
  }
  status_.connected = state_ == State::kConnected;
  status_.in_flight = in_flight_.size();
  status_.token_expires = token_expires_;
  if (state_ == State::kWaiting) {
    status_.next_attempt =
        clock_.Now() + duration_cast<std::chrono::system_clock::duration>(
                           std::max(next_attempt_ - clock_.Monotonic(), steady_clock::duration(0)));
  } else {
    status_.next_attempt.reset();
  }
  if (twin_version_ >= 0) status_.twin_version = twin_version_;
}

std::chrono::milliseconds Publisher::NextBackoff() {
  // Exponential, capped, with "equal jitter": half fixed, half random, so
  // a fleet that lost the same broker does not come back in lockstep.
  const auto& l = config_.limits;
  milliseconds base = l.backoff_initial;
  for (int i = 0; i < backoff_attempt_ && base < l.backoff_max; ++i) base *= 2;
  base = std::min(base, l.backoff_max);
  ++backoff_attempt_;
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(0, base.count() / 2));
  return milliseconds(base.count() - base.count() / 2 + jitter(random_));
}

void Publisher::RunOnce() {
  if (state_ == State::kStopped) return;
  CheckTimers();
  if (state_ == State::kWaiting) {
    if (clock_.Monotonic() >= next_attempt_) StartConnect();
    PublishLoopStatus();
    return;
  }
  if (state_ == State::kConnected) FillWindow();
  transport_->Loop(config_.limits.loop_tick);
  if (connack_ok_) {
    connack_ok_ = false;
    OnConnected();
  }
  RemoveAcknowledged();
  if (lost_) {
    std::string reason = std::move(*lost_);
    lost_.reset();
    Fail(reason);
    PublishLoopStatus();
    return;
  }
  const auto now = clock_.Monotonic();
  if (state_ == State::kConnecting && now - connect_started_ > config_.limits.connect_timeout) {
    Fail("no CONNACK within " + std::to_string(config_.limits.connect_timeout.count()) + " ms");
    PublishLoopStatus();
    return;
  }
  if (state_ == State::kConnected) {
    for (const auto& [mid, f] : in_flight_) {
      if (now - f.sent > config_.limits.ack_timeout) {
        Fail("no PUBACK for message " + std::to_string(f.seq) + " within " +
             std::to_string(config_.limits.ack_timeout.count()) + " ms");
        PublishLoopStatus();
        return;
      }
    }
    // Token renewal: stop publishing, let the window drain, reconnect.
    if (token_expires_) {
      const auto renew_before = std::min<std::chrono::seconds>(config_.limits.token_renew_before,
                                                               config_.limits.token_ttl / 2);
      const auto wall = clock_.Now();
      if (!renewing_ && wall >= *token_expires_ - renew_before) {
        renewing_ = true;
        spdlog::info("upstream: SAS token expires at {}; reconnecting with a new one",
                     FormatIsoMillisZ(*token_expires_));
      }
      if (renewing_ && (in_flight_.empty() || wall >= *token_expires_ - renew_before / 2)) {
        transport_->Disconnect();
        in_flight_.clear();
        cursor_ = 0;
        renewing_ = false;
        state_ = State::kWaiting;
        next_attempt_ = now;
        PublishLoopStatus();
        return;
      }
    }
    if (config_.twin) {
      if (twin_retry_ && now >= *twin_retry_) RequestTwin();
      if (have_twin_ && now >= next_model_check_) {
        next_model_check_ = now + config_.limits.model_check_interval;
        if (hooks_.model_info && hooks_.model_info() != reported_model_) report_pending_ = true;
        std::function<ReportedSources()> sources;
        {
          std::lock_guard<std::mutex> lock(mu_);
          sources = sources_reporter_;
        }
        if (sources && sources() != reported_sources_) report_pending_ = true;
      }
      if (have_twin_ && report_soon_.exchange(false)) report_pending_ = true;
      if (report_pending_) SendReported();
    }
  }
  PublishLoopStatus();
}

void Publisher::CheckTimers() {
  const auto now = clock_.Monotonic();
  if (now < next_expire_) return;
  next_expire_ = now + config_.limits.expire_interval;
  Result<uint64_t> expired = outbox_->ExpireOld();
  if (!expired.ok()) {
    SetError(expired.status().message());
    spdlog::error("upstream: {}", expired.status().message());
  } else if (*expired > 0) {
    spdlog::warn(
        "upstream: dropped {} messages older than the outbox's maximum age (dropped in total: {})",
        *expired, outbox_->Stats().DroppedTotal());
  }
}

void Publisher::StartConnect() {
  Result<ConnectPlan> plan = credentials_->Prepare(clock_.Now());
  if (!plan.ok()) {
    Fail(plan.status().message());
    return;
  }
  if (plan->options.keepalive_s <= 0) plan->options.keepalive_s = config_.limits.keepalive_s;
  lost_.reset();
  connack_ok_ = false;
  Status s = transport_->Connect(plan->options, this);
  if (!s.ok()) {
    Fail(s.message());
    return;
  }
  token_expires_ = plan->expires;
  state_ = State::kConnecting;
  connect_started_ = clock_.Monotonic();
}

void Publisher::Fail(const std::string& reason) {
  transport_->Disconnect();
  RemoveAcknowledged();
  in_flight_.clear();
  cursor_ = 0;
  renewing_ = false;
  const bool was_connected = state_ == State::kConnected;
  state_ = State::kWaiting;
  const milliseconds delay = NextBackoff();
  next_attempt_ = clock_.Monotonic() + delay;
  uint64_t waiting = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++status_.connection_failures;
    status_.last_error = reason;
    status_.last_error_at = clock_.Now();
    status_.connected_since.reset();
  }
  waiting = outbox_->Stats().depth;
  spdlog::warn("upstream: {}{}; retrying in {:.1f} s ({} messages waiting in the outbox)",
               was_connected ? "connection lost: " : "cannot connect: ", reason,
               delay.count() / 1000.0, waiting);
}

void Publisher::OnConnected() {
  state_ = State::kConnected;
  backoff_attempt_ = 0;
  in_flight_.clear();
  cursor_ = 0;
  renewing_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_.connected_since = clock_.Now();
  }
  spdlog::info("upstream: connected to {} ({} messages waiting)", config_.description,
               outbox_->Stats().depth);
  if (config_.twin) {
    Status s = transport_->Subscribe("$iothub/twin/res/#", 0);
    if (s.ok()) s = transport_->Subscribe(std::string(kDesiredPatchPrefix) + "#", 0);
    if (!s.ok()) {
      SetError("twin: " + s.message());
    } else {
      RequestTwin();
    }
  }
  FillWindow();
}

void Publisher::RequestTwin() {
  get_rid_ = std::to_string(next_rid_++);
  twin_retry_ = clock_.Monotonic() + kTwinRetry;
  Result<int> mid = transport_->Publish("$iothub/twin/GET/?$rid=" + get_rid_, "", 0);
  if (!mid.ok()) SetError("twin GET: " + mid.status().message());
}

Result<std::string> Publisher::TopicFor(const OutboxEntry& entry) {
  if (config_.kind == TargetKind::kMqtt && config_.topic_template.find('{') == std::string::npos) {
    return config_.topic_template;
  }
  EV_ASSIGN_OR_RETURN(PredictionMessage message, DecodeMessage(entry.payload));
  if (config_.kind == TargetKind::kMqtt) return ExpandTopic(config_.topic_template, message);
  return TelemetryTopic(config_.identity, config_.output, message.id);
}

void Publisher::FillWindow() {
  if (state_ != State::kConnected || renewing_) return;
  const size_t window = std::max<size_t>(1, config_.limits.max_in_flight);
  while (in_flight_.size() < window) {
    Result<std::vector<OutboxEntry>> entries =
        outbox_->ReadAfter(cursor_, window - in_flight_.size());
    if (!entries.ok()) {
      SetError(entries.status().message());
      return;
    }
    if (entries->empty()) return;
    for (const OutboxEntry& entry : *entries) {
      cursor_ = entry.seq;
      Result<std::string> topic = TopicFor(entry);
      if (!topic.ok()) {
        spdlog::error("upstream: dropping unreadable outbox message {}: {}", entry.seq,
                      topic.status().message());
        Status s = outbox_->DropCorrupt(entry.seq);
        if (!s.ok()) SetError(s.message());
        continue;
      }
      Result<int> mid = transport_->Publish(*topic, entry.payload, 1);
      if (!mid.ok()) {
        lost_ = mid.status().message();
        return;
      }
      in_flight_[*mid] = InFlight{entry.seq, clock_.Monotonic()};
      std::lock_guard<std::mutex> lock(mu_);
      ++status_.sent;
    }
  }
}

void Publisher::RemoveAcknowledged() {
  if (acked_.empty()) return;
  {
    // Counted first: the broker has them, whatever happens to the removal.
    std::lock_guard<std::mutex> lock(mu_);
    status_.published += acked_.size();
    status_.last_publish = clock_.Now();
  }
  Status s = outbox_->Remove(acked_);
  if (!s.ok()) {
    // They stay in the outbox and are sent again after the next reconnect.
    SetError(s.message());
    spdlog::error("upstream: {}", s.message());
  }
  acked_.clear();
}

void Publisher::OnConnack(int code) {
  if (code == 0) {
    connack_ok_ = true;
  } else if (!lost_) {
    lost_ = "the broker refused the connection: " + ConnackText(code);
  }
}

void Publisher::OnConnectionLost(const std::string& reason) {
  if (!lost_) lost_ = reason;
}

void Publisher::OnPublished(int mid) {
  auto it = in_flight_.find(mid);
  if (it == in_flight_.end()) return;  // QoS 0 (twin) or from an earlier connection
  acked_.push_back(it->second.seq);
  in_flight_.erase(it);
}

void Publisher::OnMessage(std::string_view topic, std::string_view payload) {
  if (!config_.twin) return;
  if (topic.substr(0, kTwinResponsePrefix.size()) == kTwinResponsePrefix) {
    HandleTwinResponse(topic, payload);
  } else if (topic.substr(0, kDesiredPatchPrefix.size()) == kDesiredPatchPrefix) {
    HandleDesiredPatch(topic, payload);
  }
}

void Publisher::HandleTwinResponse(std::string_view topic, std::string_view payload) {
  // $iothub/twin/res/{status}/?$rid={rid}[&$version={v}]
  std::string_view rest = topic.substr(kTwinResponsePrefix.size());
  const int status = std::atoi(std::string(rest.substr(0, rest.find('/'))).c_str());
  const std::string rid = QueryValue(topic, "$rid");
  if (!get_rid_.empty() && rid == get_rid_) {
    get_rid_.clear();
    twin_retry_.reset();
    if (status != 200) {
      SetError("twin GET answered status " + std::to_string(status));
      spdlog::warn("upstream: twin GET answered status {}; retrying in {} s", status,
                   kTwinRetry.count());
      twin_retry_ = clock_.Monotonic() + kTwinRetry;
      report_pending_ = true;
      return;
    }
    Result<std::string> desired = DesiredFromTwin(payload);
    if (!desired.ok()) {
      SetError(desired.status().message());
      spdlog::warn("upstream: {}", desired.status().message());
      return;
    }
    have_twin_ = true;
    ApplyDesiredDocument(std::move(desired).value());
    return;
  }
  if (status < 200 || status >= 300) {
    SetError("twin request " + rid + " answered status " + std::to_string(status));
    spdlog::warn("upstream: reported properties update {} answered status {}", rid, status);
  }
}

void Publisher::HandleDesiredPatch(std::string_view topic, std::string_view payload) {
  Result<std::string> merged = MergeDesiredPatch(desired_doc_, payload);
  if (!merged.ok()) {
    SetError(merged.status().message());
    spdlog::warn("upstream: {}", merged.status().message());
    return;
  }
  (void)topic;  // the patch's own $version is in its body
  ApplyDesiredDocument(std::move(merged).value());
}

void Publisher::ApplyDesiredDocument(std::string document) {
  Result<DesiredProperties> parsed = ParseDesired(document);
  if (!parsed.ok()) {
    SetError(parsed.status().message());
    spdlog::warn("upstream: {}", parsed.status().message());
    return;
  }
  if (parsed->version) {
    if (*parsed->version < twin_version_) return;  // older than what is applied
    twin_version_ = *parsed->version;
  }
  desired_doc_ = std::move(document);
  PublishRule rule = config_.rule;
  if (parsed->publish_enabled) rule.enabled = *parsed->publish_enabled;
  if (parsed->min_probability) rule.min_probability = *parsed->min_probability;
  if (parsed->max_probability) rule.max_probability = *parsed->max_probability;
  if (parsed->tags) rule.tags = *parsed->tags;
  std::vector<std::string> errors = parsed->errors;
  if (rule.min_probability > rule.max_probability) {
    errors.push_back("upstream.minProbability is above upstream.maxProbability");
    rule.min_probability = config_.rule.min_probability;
    rule.max_probability = config_.rule.max_probability;
  }
  std::function<Status(const DesiredCapture&)> handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rule_ = rule;
    status_.rule = rule;
    desired_capture_ = parsed->capture;
    handler = capture_handler_;
  }
  std::function<Status(const DesiredModel&)> model_handler;
  bool model_changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    model_changed = parsed->model != desired_model_;
    desired_model_ = parsed->model;
    model_handler = model_handler_;
  }
  if (model_changed) {
    // Delivery ignores a model already serving or pending, so a twin GET
    // after a reconnect does not download again.
    Status s = !parsed->model ? Status::Ok()
               : model_handler ? model_handler(*parsed->model)
                               : Unavailable("model: delivery is off (start with --model-delivery)");
    std::lock_guard<std::mutex> lock(mu_);
    model_request_error_ = s.ok() ? "" : s.message();
  }
  SourcesHandler sources_handler;
  bool sources_changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sources_changed = !desired_sources_ || parsed->sources != *desired_sources_;
    desired_sources_ = parsed->sources;
    sources_handler = sources_handler_;
  }
  if (sources_changed && sources_handler) sources_handler(parsed->sources);
  std::string capture_status;
  if (parsed->capture) {
    if (handler) {
      Status s = handler(*parsed->capture);
      capture_status = s.ok() ? "applied" : s.message();
    } else {
      capture_status = "no capture store";
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    capture_status_ = capture_status;
  }
  desired_errors_ = errors;
  report_pending_ = true;
  spdlog::info(
      "upstream: twin desired properties{} applied: publishing {}{}",
      parsed->version ? " version " + std::to_string(*parsed->version) : std::string(),
      DescribeRule(rule), errors.empty() ? std::string() : "; ignored: " + [&] {
        std::string all;
        for (const std::string& e : errors) all += (all.empty() ? "" : "; ") + e;
        return all;
      }());
}

void Publisher::SendReported() {
  report_pending_ = false;
  ReportedProperties reported;
  std::function<ReportedSources()> sources;
  reported.version = config_.version;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reported.applied = rule_;
    reported.capture = desired_capture_;
    reported.capture_status = capture_status_;
    if (!model_request_error_.empty()) reported.errors.push_back(model_request_error_);
    if (delivery_reporter_) reported.delivery = delivery_reporter_();
    sources = sources_reporter_;
  }
  // Outside mu_: the sources' reporter takes their locks, and a source's
  // worker may be in Enqueue.
  if (sources) reported.sources = sources();
  reported_sources_ = reported.sources;
  if (twin_version_ >= 0) reported.desired_version = twin_version_;
  reported.errors.insert(reported.errors.begin(), desired_errors_.begin(), desired_errors_.end());
  if (hooks_.model_info) reported.model = hooks_.model_info();
  reported_model_ = reported.model;
  next_model_check_ = clock_.Monotonic() + config_.limits.model_check_interval;
  const std::string rid = std::to_string(next_rid_++);
  Result<int> mid = transport_->Publish("$iothub/twin/PATCH/properties/reported/?$rid=" + rid,
                                        EncodeReported(reported), 0);
  if (!mid.ok()) SetError("twin reported properties: " + mid.status().message());
}

}  // namespace edgevision::upstream
