// What a turn saved in SQLite costs the caller, and where it goes (issue 17; docs/performance.md, "SQLite
// history at one connection: where the time goes"). One caller on one io_context awaits one append after
// another, as a /chat with a new conversation does at one connection, on:
// - file: the default, a file database (WAL, synchronous=NORMAL): the job goes to the writer thread, the
//   caller resumes when its result is posted back (two thread hand-offs) once its group committed;
// - file, no sync: the same with synchronous=OFF (nothing to fsync; NORMAL does not fsync a commit either);
// - memory: ":memory:" runs the same SQL on the caller's thread: no hand-off, no file, the SQL alone;
// and the writer's round trip with an empty job (the hand-offs plus an empty BEGIN/COMMIT).
// Wall time per append (`UseRealTime`): the writer thread's CPU is not the benchmark thread's.
// Run: build-bench/bench_sqlite_store (make bench-sqlite).
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "store/sqlite_history.hpp"
#include "store/sqlite_worker.hpp"
#include "util/uuid.hpp"

namespace {

namespace asio = boost::asio;
using namespace ba;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("ba-bench-sqlite-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

store::Turn new_turn() {
  store::Turn t;
  t.conversation_id = uuid_v7(now_ms());
  t.user_input = "What is the capital of France? Answer in one word.";
  t.assistant_reply = "Paris.";
  t.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
  t.input_tokens = 21;
  t.output_tokens = 3;
  t.stop_reason = "end_turn";
  t.request_id = "0f6c1b1e-9a3c-4d55-8f7e-2d0e4b3c9a11";
  return t;
}

// One caller on one io_context awaiting `step()` (a Result or Status) once per iteration, as a
// connection awaits its store.
template <class Step>
void await_each(benchmark::State& state, Step step) {
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (auto _ : state) {
          auto r = co_await step();
          if (!r) state.SkipWithError(r.error().message.c_str());
        }
      },
      asio::detached);
  io.run();
}

void append_new_conversations(benchmark::State& state, const std::string& path, bool sync) {
  store::SqliteOptions opts;
  opts.sync_to_disk = sync;
  auto history = store::make_sqlite_history(path, opts);
  if (!history) {
    state.SkipWithError(history.error().message.c_str());
    return;
  }
  await_each(state, [&] { return (*history)->append("owner-1", new_turn()); });
}

void BM_AppendFile(benchmark::State& state) {
  TempDir dir;
  append_new_conversations(state, (dir.path / "history.db").string(), true);
}
void BM_AppendFileNoSync(benchmark::State& state) {
  TempDir dir;
  append_new_conversations(state, (dir.path / "history.db").string(), false);
}
void BM_AppendMemory(benchmark::State& state) { append_new_conversations(state, ":memory:", true); }

void BM_WriterRoundTripEmptyJob(benchmark::State& state) {
  TempDir dir;
  auto db = store::SqliteDatabase::open((dir.path / "empty.db").string());
  if (!db) {
    state.SkipWithError(db.error().message.c_str());
    return;
  }
  await_each(state, [&] { return (*db)->write<Status>([] { return Status{}; }); });
}

BENCHMARK(BM_AppendFile)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_AppendFileNoSync)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_AppendMemory)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_WriterRoundTripEmptyJob)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
