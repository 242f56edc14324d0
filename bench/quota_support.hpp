#pragma once
// What the quota benchmarks (quota.cpp, quota_fleet.cpp) share: the percentile they report, a timer
// wait, and the chat prompt their callers send.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "util/clock.hpp"

namespace ba::bench {

// Nearest rank of `p` (0..1) in `v`; 0 for none.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

inline boost::asio::awaitable<void> sleep_until(SteadyTime t) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, t);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

// The prompt: ~400 bytes of text, so the simulator counts ~100 input tokens.
inline std::string prompt(int client, int n) {
  std::string s = "Client " + std::to_string(client) + " request " + std::to_string(n) + ": ";
  while (s.size() < 400) s += "please summarise the quarterly figures in one short paragraph. ";
  return s.substr(0, 400);
}

}  // namespace ba::bench
