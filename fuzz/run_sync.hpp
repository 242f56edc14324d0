#pragma once
// run_sync for the fuzzers whose entry points are coroutines (fuzz/, docs/testing.md "Fuzzing").
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <utility>

#include "fuzz_check.hpp"

namespace ba::fuzz {

// Runs an awaitable to completion on a private io_context; an exception aborts (the code under test
// returns errors as values, it never throws on the request path).
template <class T>
T run_sync(boost::asio::awaitable<T> task) {
  boost::asio::io_context io;
  std::optional<T> out;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "the coroutine threw: %s\n", ex.what());
      }
      std::abort();
    }
    out.emplace(std::move(value));
  });
  io.run();
  FUZZ_CHECK(out.has_value());
  return std::move(*out);
}

}  // namespace ba::fuzz
