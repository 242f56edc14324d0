#include "store/no_history.hpp"

namespace ba::store {
namespace {

class NoHistory final : public HistoryStore {
 public:
  boost::asio::awaitable<Result<std::vector<Turn>>> load(std::string, std::string, std::size_t) override {
    co_return fail(ErrorKind::invalid_input, std::string(kHistoryOffMessage));
  }
  // Every turn stands alone: it is the first (and only) turn of its conversation.
  boost::asio::awaitable<Result<Turn>> append(std::string, Turn turn) override {
    turn.seq = 1;
    co_return turn;
  }
  boost::asio::awaitable<Result<std::optional<std::string>>> owner_of(std::string) override {
    co_return std::optional<std::string>{};
  }
  boost::asio::awaitable<Status> remove(std::string, std::string) override {
    co_return fail(ErrorKind::invalid_input, std::string(kHistoryOffMessage));
  }
  // Nothing is stored, so there is nothing to list.
  boost::asio::awaitable<Result<ConversationPage>> list(std::string, std::size_t, std::string) override {
    co_return ConversationPage{};
  }
  Status check() override { return {}; }
};

}  // namespace

std::unique_ptr<HistoryStore> make_no_history() { return std::make_unique<NoHistory>(); }

}  // namespace ba::store
