#include "aws/credentials.hpp"

#include <fcntl.h>
#include <csignal>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#include "aws/config_file.hpp"
#include "aws/endpoints.hpp"
#include "net/http_client.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"

extern char** environ;

namespace ba::aws {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asio::awaitable;

constexpr auto kRefreshAhead = std::chrono::minutes(5);

// What one source found: credentials, "not configured" (nullopt + reason), or a failure (reason).
struct Attempt {
  std::optional<Credentials> creds;
  std::string note;  // why nothing came from this source
};

Attempt nothing(std::string why) { return Attempt{std::nullopt, std::move(why)}; }

std::string json_string(const boost::json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  return {};
}

// {"AccessKeyId","SecretAccessKey","Token"|"SessionToken","Expiration"} as container, IMDS and
// credential_process return them.
std::optional<Credentials> credentials_from_json(std::string_view body, std::string source, std::string& why) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) {
    why = "response is not a JSON object";
    return std::nullopt;
  }
  const auto& o = v.as_object();
  Credentials c;
  c.access_key_id = json_string(o, "AccessKeyId");
  c.secret_access_key = json_string(o, "SecretAccessKey");
  c.session_token = json_string(o, "Token");
  if (c.session_token.empty()) c.session_token = json_string(o, "SessionToken");
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    why = "response lacks AccessKeyId/SecretAccessKey";
    return std::nullopt;
  }
  if (auto exp = json_string(o, "Expiration"); !exp.empty()) {
    c.expiration = parse_iso8601(exp);
    if (!c.expiration) {
      why = "unparsable Expiration '" + exp + "'";
      return std::nullopt;
    }
  }
  c.source = std::move(source);
  return c;
}

// --- credential_process --------------------------------------------------------------------------------

// Runs `command` with /bin/sh, reading its stdout without blocking the io_context.
awaitable<Result<std::string>> run_process(const std::string& command, std::chrono::seconds timeout) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) co_return fail(ErrorKind::internal, "credential_process: pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    co_return fail(ErrorKind::internal, "credential_process: cannot start /bin/sh");
  }
  auto ex = co_await asio::this_coro::executor;
  // Shared with the timeout handler, which may run after this frame is gone.
  struct Reading {
    Reading(asio::any_io_executor e, int fd, std::chrono::seconds t) : pipe(e, fd), timer(e, t) {}
    asio::posix::stream_descriptor pipe;
    asio::steady_timer timer;
    bool timed_out = false;
  };
  auto st = std::make_shared<Reading>(ex, fds[0], timeout);
  st->timer.async_wait([st](boost::system::error_code ec) {
    if (ec) return;
    st->timed_out = true;
    boost::system::error_code ignored;
    st->pipe.close(ignored);
  });
  std::string output;
  char buf[4096];
  for (;;) {
    auto [ec, n] = co_await st->pipe.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    output.append(buf, n);
    if (ec || output.size() > 1024 * 1024) break;
  }
  st->timer.cancel();
  boost::system::error_code ignored;
  st->pipe.close(ignored);
  const bool timed_out = st->timed_out;
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);  // the child has closed stdout (or was killed): it is exiting
  if (timed_out) co_return fail(ErrorKind::timeout, "credential_process timed out");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    co_return fail(ErrorKind::unauthorized, "credential_process exited with status " +
                                                std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  co_return output;
}

// --- the chain -----------------------------------------------------------------------------------------

class StaticProvider final : public CredentialsProvider {
 public:
  explicit StaticProvider(Credentials c) : creds_(std::move(c)) {
    if (creds_.source.empty()) creds_.source = "static";
  }
  awaitable<Result<Credentials>> get() override { co_return creds_; }

 private:
  Credentials creds_;
};

class DefaultChain final : public CredentialsProvider {
 public:
  DefaultChain(net::HttpClient& http, ProviderSettings settings, Clock& clock)
      : http_(http), settings_(std::move(settings)), clock_(clock) {
    env_ = settings_.getenv ? GetEnv(settings_.getenv) : process_env();
  }

  // Callers may be on several threads (`serve --threads N`): the cache and the refresh's state are
  // under mu_; a caller that finds a refresh in flight waits on a timer of its own executor, which the
  // refresh cancels (on that executor) when it ends.
  awaitable<Result<Credentials>> get() override {
    const asio::any_io_executor ex = co_await asio::this_coro::executor;
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(mu_);
      if (cached_ && fresh(*cached_)) co_return *cached_;
      if (refreshing_) waiter = std::make_shared<Waiter>(ex);
      if (waiter) waiters_.push_back(waiter);
      refreshing_ = true;
    }
    if (waiter) {
      // Another get() is resolving: wait for it rather than starting a second refresh.
      if (!waiter->done) co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
      std::lock_guard lock(mu_);
      if (cached_ && usable(*cached_)) co_return *cached_;
      co_return fail(last_error_);
    }
    // Cleared (and waiters woken) however this coroutine ends, even if its frame is destroyed.
    struct RefreshGuard {
      DefaultChain& self;
      ~RefreshGuard() {
        std::vector<std::shared_ptr<Waiter>> woken;
        {
          std::lock_guard lock(self.mu_);
          self.refreshing_ = false;
          woken.swap(self.waiters_);
        }
        for (auto& w : woken) {
          auto ex = w->timer.get_executor();
          asio::post(ex, [w = std::move(w)] {  // the timer is not thread-safe: on its own executor
            w->done = true;
            w->timer.cancel();
          });
        }
      }
    };
    Result<Credentials> result = fail(ErrorKind::internal, "unreachable");
    {
      RefreshGuard guard{*this};
      result = co_await resolve();
      std::lock_guard lock(mu_);
      if (result) {
        cached_ = *result;
      } else {
        last_error_ = result.error();
        if (cached_ && usable(*cached_)) result = *cached_;  // keep serving until actual expiry
      }
    }
    co_return result;
  }

 private:
  bool fresh(const Credentials& c) const { return !c.expiration || clock_.wall() < *c.expiration - kRefreshAhead; }
  bool usable(const Credentials& c) const { return !c.expiration || clock_.wall() < *c.expiration; }

  awaitable<Result<Credentials>> resolve() {
    std::vector<std::string> tried;
    auto record = [&](std::string_view source, const Attempt& a) { tried.push_back(std::string(source) + ": " + a.note); };

    Attempt env = from_env();
    if (env.creds) co_return *env.creds;
    record("environment", env);

    Attempt profile = co_await from_profile();
    if (profile.creds) co_return *profile.creds;
    record("profile " + profile_name(settings_.profile, env_), profile);

    Attempt container = co_await from_container();
    if (container.creds) co_return *container.creds;
    record("container", container);

    Attempt imds = co_await from_imds();
    if (imds.creds) co_return *imds.creds;
    record("imds", imds);

    std::string msg = "no AWS credentials found; tried ";
    for (std::size_t i = 0; i < tried.size(); ++i) msg += (i ? "; " : "") + tried[i];
    co_return fail(ErrorKind::unauthorized, std::move(msg));
  }

  std::optional<std::string> env(std::string_view name) const {
    auto v = env_(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  }

  Attempt from_env() const {
    auto id = env("AWS_ACCESS_KEY_ID");
    auto secret = env("AWS_SECRET_ACCESS_KEY");
    if (!id || !secret) return nothing("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set");
    return Attempt{Credentials{.access_key_id = *id, .secret_access_key = *secret,
                               .session_token = env("AWS_SESSION_TOKEN").value_or(""), .source = "environment"},
                   {}};
  }

  awaitable<Attempt> from_profile() const {
    const std::string name = profile_name(settings_.profile, env_);
    const SharedFiles files = shared_files(env_, settings_.home);
    IniSection merged;
    bool found = false;
    if (auto config = load_ini(files.config)) {
      if (auto s = config_profile(*config, name)) {
        merged = *s;
        found = true;
      }
    }
    if (auto creds = load_ini(files.credentials)) {  // the credentials file wins over config
      if (auto s = credentials_profile(*creds, name)) {
        for (auto& [k, v] : *s) merged[k] = v;
        found = true;
      }
    }
    if (!found) co_return nothing("no such profile in " + files.credentials.string() + " or " + files.config.string());
    auto get = [&](const char* key) -> std::string {
      auto it = merged.find(key);
      return it == merged.end() ? std::string() : it->second;
    };
    if (!get("aws_access_key_id").empty() && !get("aws_secret_access_key").empty()) {
      co_return Attempt{Credentials{.access_key_id = get("aws_access_key_id"),
                                    .secret_access_key = get("aws_secret_access_key"),
                                    .session_token = get("aws_session_token"), .source = "profile:" + name},
                        {}};
    }
    if (auto cmd = get("credential_process"); !cmd.empty()) {
      auto out = co_await run_process(cmd, std::chrono::seconds(60));
      if (!out) co_return nothing(out.error().message);
      boost::system::error_code ec;
      auto v = boost::json::parse(*out, ec);
      if (ec || !v.is_object()) co_return nothing("credential_process output is not JSON");
      auto* version = v.as_object().if_contains("Version");
      if (!version || !version->is_int64() || version->as_int64() != 1)
        co_return nothing("credential_process output has no \"Version\": 1");
      std::string why;
      auto c = credentials_from_json(*out, "process", why);
      if (!c) co_return nothing("credential_process " + why);
      co_return Attempt{std::move(c), {}};
    }
    if (!get("role_arn").empty() || !get("sso_session").empty() || !get("sso_start_url").empty())
      co_return nothing("role_arn/sso profiles are not supported");
    co_return nothing("profile has no keys and no credential_process");
  }

  static bool allowed_full_uri(const net::Url& u) {
    if (u.scheme == "https") return true;
    const std::string& h = u.host;
    return h.starts_with("127.") || h == "localhost" || h == "::1" || h == "169.254.170.2" || h == "169.254.170.23" ||
           h == "fd00:ec2::23";
  }

  awaitable<Attempt> from_container() {
    std::string url;
    if (auto rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
      url = "http://169.254.170.2" + *rel;
    } else if (auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
      auto parsed = net::parse_url(*full);
      if (!parsed) co_return nothing("invalid AWS_CONTAINER_CREDENTIALS_FULL_URI");
      if (!allowed_full_uri(*parsed)) co_return nothing("AWS_CONTAINER_CREDENTIALS_FULL_URI host is not allowed over http");
      url = *full;
    } else {
      co_return nothing("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI not set");
    }
    net::HttpRequest req{.method = "GET", .url = url};
    req.headers.set("Accept", "application/json");
    if (auto file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
      std::ifstream f(*file, std::ios::binary);
      if (!f) co_return nothing("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
      std::stringstream ss;
      ss << f.rdbuf();
      req.headers.set("Authorization", std::string(trim(ss.str())));
    } else if (auto token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
      req.headers.set("Authorization", *token);
    }
    auto resp = co_await http_.send(std::move(req), options());
    if (!resp) co_return nothing("request failed: " + resp.error().message);
    if (resp->status != 200) co_return nothing("HTTP " + std::to_string(resp->status));
    std::string why;
    auto c = credentials_from_json(resp->body, "container", why);
    if (!c) co_return nothing(why);
    co_return Attempt{std::move(c), {}};
  }

  awaitable<Attempt> from_imds() {
    if (auto disabled = env("AWS_EC2_METADATA_DISABLED"); disabled && iequals(*disabled, "true"))
      co_return nothing("disabled by AWS_EC2_METADATA_DISABLED");
    std::string base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
    while (!base.empty() && base.back() == '/') base.pop_back();

    net::HttpRequest token_req{.method = "PUT", .url = base + "/latest/api/token"};
    token_req.headers.set("X-aws-ec2-metadata-token-ttl-seconds", "21600");
    auto token = co_await http_.send(std::move(token_req), options());
    if (!token) co_return nothing("token request failed: " + token.error().message);
    if (token->status != 200) co_return nothing("token request returned HTTP " + std::to_string(token->status));
    const std::string tok(trim(token->body));

    const std::string creds_path = base + "/latest/meta-data/iam/security-credentials/";
    net::HttpRequest role_req{.method = "GET", .url = creds_path};
    role_req.headers.set("X-aws-ec2-metadata-token", tok);
    auto role = co_await http_.send(std::move(role_req), options());
    if (!role) co_return nothing("role request failed: " + role.error().message);
    if (role->status != 200) co_return nothing("no instance role (HTTP " + std::to_string(role->status) + ")");
    std::string_view role_name = trim(role->body);
    if (auto nl = role_name.find('\n'); nl != std::string_view::npos) role_name = trim(role_name.substr(0, nl));
    if (role_name.empty()) co_return nothing("no instance role");

    net::HttpRequest cred_req{.method = "GET", .url = creds_path + net::uri_encode(role_name)};
    cred_req.headers.set("X-aws-ec2-metadata-token", tok);
    auto resp = co_await http_.send(std::move(cred_req), options());
    if (!resp) co_return nothing("credentials request failed: " + resp.error().message);
    if (resp->status != 200) co_return nothing("credentials request returned HTTP " + std::to_string(resp->status));
    boost::system::error_code ec;
    auto v = boost::json::parse(resp->body, ec);
    if (!ec && v.is_object()) {
      if (auto code = json_string(v.as_object(), "Code"); !code.empty() && code != "Success")
        co_return nothing("instance credentials not available: " + code);
    }
    std::string why;
    auto c = credentials_from_json(resp->body, "imds", why);
    if (!c) co_return nothing(why);
    co_return Attempt{std::move(c), {}};
  }

  // Metadata endpoints are local: fail fast off EC2/ECS.
  static net::RequestOptions options() {
    net::RequestOptions o;
    o.connect_timeout = 1s;
    o.read_timeout = 2s;
    o.body_limit = 64 * 1024;
    return o;
  }

  net::HttpClient& http_;
  ProviderSettings settings_;
  Clock& clock_;
  GetEnv env_;
  // A get() waiting for the refresh in flight; `done` and the timer are touched on its executor only.
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool done = false;
  };
  std::mutex mu_;
  std::optional<Credentials> cached_;                // guarded by mu_
  bool refreshing_ = false;                          // guarded by mu_
  Error last_error_;                                 // guarded by mu_
  std::vector<std::shared_ptr<Waiter>> waiters_;     // guarded by mu_
};

}  // namespace

std::unique_ptr<CredentialsProvider> make_static_provider(Credentials creds) {
  return std::make_unique<StaticProvider>(std::move(creds));
}

std::unique_ptr<CredentialsProvider> make_default_chain(net::HttpClient& http, ProviderSettings settings, Clock& clock) {
  return std::make_unique<DefaultChain>(http, std::move(settings), clock);
}

std::string bearer_token_env_name(std::string_view signing_name) {
  std::string name = "AWS_BEARER_TOKEN_";
  for (char c : signing_name) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    name += (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
  }
  return name;
}

std::optional<std::string> bearer_token_from_env(const GetEnv& env, std::string_view signing_name) {
  auto v = env(bearer_token_env_name(signing_name));
  if (!v || v->empty()) return std::nullopt;
  return v;
}

}  // namespace ba::aws
