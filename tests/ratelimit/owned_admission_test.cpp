// ratelimit::OwnedAdmission: an admission every io thread may use while its store is touched only on
// the owner's thread (the shared budget on DynamoDB under `serve --threads N`).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <thread>
#include <vector>

#include "ratelimit/limiter.hpp"

namespace ba::ratelimit {
namespace {

namespace asio = boost::asio;

// Records the thread each call runs on; grants everything at once.
class RecordingAdmission final : public Admission {
 public:
  asio::awaitable<Result<Permit>> acquire(const Key& key, Cost cost, std::optional<SteadyTime>) override {
    acquired_on.push_back(std::this_thread::get_id());
    co_return Permit{.id = ++next_, .key = key, .reserved = cost};
  }
  void settle(const Permit&, Cost) override { settled_on.push_back(std::this_thread::get_id()); }
  void on_response(const Key&, Feedback) override { responses_on.push_back(std::this_thread::get_id()); }

  // Touched only on the owner's thread (the test reads them once the owner has stopped).
  std::vector<std::thread::id> acquired_on, settled_on, responses_on;

 private:
  ReservationId next_ = 0;
};

const Key kKey{"m", "us-east-1"};

TEST(OwnedAdmission, EveryCallRunsOnTheOwnerAndTheCallerResumesOnItsOwnThread) {
  asio::io_context owner(1);
  auto guard = asio::make_work_guard(owner);
  std::thread owner_thread([&] { owner.run(); });
  RecordingAdmission inner;
  OwnedAdmission owned(inner, owner);

  asio::io_context caller(1);
  std::thread::id resumed_on;
  bool granted = false;
  asio::co_spawn(caller, [&]() -> asio::awaitable<void> {
    auto permit = co_await owned.acquire(kKey, Cost{1, 10}, std::nullopt);
    resumed_on = std::this_thread::get_id();
    granted = permit.has_value();
    if (permit) {
      owned.settle(*permit, Cost{1, 5});
      owned.on_response(kKey, Feedback::success);
    }
  }, asio::detached);
  caller.run();  // this thread
  EXPECT_TRUE(granted);
  EXPECT_EQ(resumed_on, std::this_thread::get_id());

  std::promise<std::thread::id> owner_id;
  asio::post(owner, [&] { owner_id.set_value(std::this_thread::get_id()); });
  const auto owner_thread_id = owner_id.get_future().get();  // after the posted settle and response
  guard.reset();
  owner_thread.join();
  ASSERT_EQ(inner.acquired_on.size(), 1u);
  EXPECT_EQ(inner.acquired_on[0], owner_thread_id);
  ASSERT_EQ(inner.settled_on.size(), 1u);
  EXPECT_EQ(inner.settled_on[0], owner_thread_id);
  ASSERT_EQ(inner.responses_on.size(), 1u);
  EXPECT_EQ(inner.responses_on[0], owner_thread_id);
}

TEST(OwnedAdmission, OnTheOwnersThreadItCallsTheInnerAdmissionDirectly) {
  asio::io_context owner(1);
  RecordingAdmission inner;
  OwnedAdmission owned(inner, owner);
  bool granted = false;
  asio::co_spawn(owner, [&]() -> asio::awaitable<void> {
    auto permit = co_await owned.acquire(kKey, Cost{1, 10}, std::nullopt);
    granted = permit.has_value();
    if (permit) owned.settle(*permit, Cost{1, 5});
    // Direct: done before this coroutine goes on, nothing posted.
    EXPECT_EQ(inner.settled_on.size(), 1u);
  }, asio::detached);
  owner.run();
  EXPECT_TRUE(granted);
  EXPECT_EQ(inner.acquired_on.size(), 1u);
}

}  // namespace
}  // namespace ba::ratelimit
