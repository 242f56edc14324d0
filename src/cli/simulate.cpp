#include "cli/simulate.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <cstdio>

#include "cli/signals.hpp"

namespace ba::cli {

int run_simulate(const sim::SimulatorOptions& options) {
  raise_open_file_limit();  // a benchmark holds thousands of connections to it
  boost::asio::io_context io{1};  // run by this thread alone
  auto simulator = sim::make_simulator(io, options);
  auto port = simulator->start();
  if (!port) {
    std::fprintf(stderr, "bedrock-agent simulate-bedrock: cannot listen on %s:%u: %s\n", options.host.c_str(),
                 options.port, port.error().message.c_str());
    return 1;
  }
  boost::json::object info;
  info["host"] = options.host;
  info["port"] = *port;
  info["endpoint"] = "http://" + options.host + ":" + std::to_string(*port);
  info["seed"] = options.seed;
  info["sigv4"] = !options.access_key_id.empty() && !options.secret_access_key.empty();
  std::string extra = boost::json::serialize(info);
  log_line("info", "simulator listening", extra.substr(1, extra.size() - 2));
  constexpr std::chrono::milliseconds grace{2000};
  run_until_signal(io, [&] { simulator->stop(grace); }, grace);
  log_line("info", "stopped");
  return 0;
}

}  // namespace ba::cli
