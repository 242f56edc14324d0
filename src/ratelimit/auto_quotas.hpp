#pragma once
// `--max-rpm auto` / `--max-tpm auto` (and rpm=auto / tpm=auto per target): budgets from the account's
// applied Bedrock quotas (Service Quotas, ServiceCode "bedrock"; bedrock_quotas.hpp says which quota is a
// target's), read at start-up and every `interval` (15 min by default) on the io_context's timers.
// When a quota cannot be read (the call fails, or no quota or several match) the target keeps its
// configured value (auto:N, else --max-rpm / --max-tpm, else the default) and a warning names it; the
// warning is logged when that starts, not at every refresh. A changed quota is applied to the target's
// budget store (BudgetStore::set_limits) with an info line; a store that cannot change budgets while
// running (the shared DynamoDB budget) keeps its start-up budgets and says so.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ratelimit/bedrock_quotas.hpp"
#include "ratelimit/config.hpp"
#include "util/result.hpp"

namespace boost::asio {
class io_context;
}

namespace ba::ratelimit {

class BudgetStore;

struct AutoQuotaTarget {
  std::string model_id;          // the budget key's model (and what the quota is matched by)
  std::string region;            // whose quotas apply
  bool rpm_auto = false, tpm_auto = false;
  QuotaPins pins;
  BudgetLimits fallback;         // the configured budgets (daily_tokens is kept as is)
  BudgetStore* store = nullptr;  // where refreshed budgets go (set later with set_store); may stay null
};

class AutoQuotas {
 public:
  // One region's bedrock quotas (a Service Quotas ListServiceQuotas, every page).
  using ListQuotas = std::function<boost::asio::awaitable<Result<std::vector<QuotaEntry>>>(const std::string& region)>;
  using Log = std::function<void(std::string_view level, std::string_view message)>;

  AutoQuotas(std::vector<AutoQuotaTarget> targets, ListQuotas list, Log log,
             std::chrono::milliseconds interval = std::chrono::minutes(15));
  ~AutoQuotas();  // stops the refresh loop
  AutoQuotas(const AutoQuotas&) = delete;
  AutoQuotas& operator=(const AutoQuotas&) = delete;

  // Reads every region's quotas once and computes each target's budgets; applies them to the stores
  // that are set. Never fails: a target whose quota cannot be read keeps its fallback.
  boost::asio::awaitable<void> refresh();

  // The budgets in force for target i (the fallback until the first refresh).
  BudgetLimits limits(std::size_t i) const;
  // Where each budget came from: "quota L-..." or "fallback" (for /health and the start-up line).
  std::string rpm_source(std::size_t i) const;
  std::string tpm_source(std::size_t i) const;
  std::size_t size() const;
  std::uint64_t refreshes() const;  // completed refresh() calls

  void set_store(std::size_t i, BudgetStore* store);
  // refresh() every interval, on `io`'s timers, until this object goes.
  void start(boost::asio::io_context& io);

 private:
  struct Impl;
  static boost::asio::awaitable<void> run_refresh(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace ba::ratelimit
