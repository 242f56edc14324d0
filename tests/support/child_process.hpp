#pragma once
// Child processes for integration tests: the real binary, and Node-based servers (dynalite, s3rver, the
// official SDK oracles). Every child is killed (SIGKILL to its process group) and reaped when its owner
// goes out of scope, so a failing test never leaves a server running.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ba::test {

// A child process in its own process group, with stderr (and stdout when `merge_stdout`) on a pipe. It
// is killed when the test process dies, even by a crash (PR_SET_PDEATHSIG).
// `env` entries ("NAME=value") are added to (or override) this process's environment.
class Child {
 public:
  explicit Child(std::vector<std::string> args, std::vector<std::string> env = {}, bool merge_stdout = false) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
      std::string s(*e);
      bool overridden = false;
      for (const auto& o : env) {
        auto eq = o.find('=');
        if (eq != std::string::npos && s.compare(0, eq + 1, o, 0, eq + 1) == 0) overridden = true;
      }
      if (!overridden) envs.push_back(std::move(s));
    }
    for (const auto& o : env) envs.push_back(o);
    std::vector<char*> envp;
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed for " + args[0]);
    if (pid_ == 0) {
      // The child: only async-signal-safe calls until exec. It dies with the test process (SIGKILL on
      // the parent's death), so a crashed test binary leaves no server behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::setpgid(0, 0);
      ::dup2(fds[1], 2);
      if (merge_stdout) ::dup2(fds[1], 1);
      ::execvpe(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also from the parent, so kill(-pid) works before the child got to it
    ::close(fds[1]);
    err_ = fds[0];
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(err_);
  }

  // The next stderr line; nullopt on EOF or when nothing arrives for 30 s (a hang guard, not a timing test).
  std::optional<std::string> line() {
    while (true) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return l;
      }
      pollfd p{err_, POLLIN, 0};
      if (::poll(&p, 1, 30'000) <= 0) return std::nullopt;
      char buf[4096];
      auto n = ::read(err_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Everything still to come (until EOF or a 30 s silence).
  std::string rest() {
    std::string all = buffer_;
    buffer_.clear();
    while (auto l = line()) all += *l + "\n";
    return all;
  }

  pid_t pid() const { return pid_; }
  void signal(int sig) { ::kill(pid_, sig); }
  // True while the process has not exited (does not reap it... unless it has exited).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return false;
    }
    return true;
  }
  int wait_exit() {
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_;
  }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  int exit_code_ = -1;
  std::string buffer_;
};

// A loopback port that was free a moment ago (for servers that cannot report the port they bound).
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// True once a TCP connect to 127.0.0.1:port succeeds (polling up to `patience`; a start-up guard).
inline bool wait_for_port(int port, std::chrono::milliseconds patience = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < until) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

inline std::filesystem::path node_modules_dir() { return std::filesystem::path(BA_SOURCE_DIR) / "node_modules"; }

// Whether `node` runs and node_modules/<package> is installed (tests GTEST_SKIP otherwise).
inline bool node_package_available(const std::string& package) {
  if (!std::filesystem::exists(node_modules_dir() / package)) return false;
  return std::system("node --version > /dev/null 2>&1") == 0;
}

// A Node.js server on 127.0.0.1:port(), started with plain `node` (not npx, whose child would outlive a
// kill), stopped with its process group.
class NodeServer {
 public:
  // `script` relative to node_modules; `args` may use the placeholder "{port}".
  // `port` 0: a free loopback port (a server started again on the port it had keeps its clients).
  NodeServer(const std::string& script, std::vector<std::string> args, std::vector<std::string> env = {},
             int port = 0)
      : port_(port ? port : free_loopback_port()) {
    std::vector<std::string> argv{"node", (node_modules_dir() / script).string()};
    for (auto& a : args) {
      auto at = a.find("{port}");
      if (at != std::string::npos) a.replace(at, 6, std::to_string(port_));
      argv.push_back(std::move(a));
    }
    env.push_back("NODE_NO_WARNINGS=1");
    child_.emplace(std::move(argv), std::move(env), true);
    if (!wait_for_port(port_)) throw std::runtime_error("node server did not start: " + script);
  }
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  std::optional<Child> child_;
};

// dynalite in memory: a real DynamoDB JSON 1.0 server (no transactions, no UpdateTimeToLive, no SigV4 check).
inline NodeServer start_dynalite() { return NodeServer("dynalite/cli.js", {"--host", "127.0.0.1", "--port", "{port}"}); }

// s3rver storing under `dir`: credentials S3RVER/S3RVER (and `access_key_id`/`secret_key` too when
// given: tests/node/s3rver_key.cjs adds the pair before s3rver starts), path-style addressing. On Node 20
// its ListObjectsV2 continuation tokens use DES, which needs OpenSSL's legacy provider.
inline NodeServer start_s3rver(const std::filesystem::path& dir, const std::string& access_key_id = {},
                               const std::string& secret_key = {}) {
  std::filesystem::create_directories(dir);
  const char* inherited = std::getenv("NODE_OPTIONS");
  std::string options = inherited && *inherited ? std::string(inherited) + " " : std::string();
  std::vector<std::string> env;
  if (!access_key_id.empty()) {
    options += "--require " + (std::filesystem::path(BA_SOURCE_DIR) / "tests/node/s3rver_key.cjs").string() + " ";
    env.push_back("BA_S3RVER_KEY_ID=" + access_key_id);
    env.push_back("BA_S3RVER_SECRET=" + secret_key);
  }
  env.push_back("NODE_OPTIONS=" + options + "--openssl-legacy-provider");
  return NodeServer("s3rver/bin/s3rver.js", {"-d", dir.string(), "-a", "127.0.0.1", "-p", "{port}", "--silent"},
                    std::move(env));
}

}  // namespace ba::test
