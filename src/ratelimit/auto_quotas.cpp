#include "ratelimit/auto_quotas.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>

#include "ratelimit/limiter.hpp"

namespace ba::ratelimit {

namespace asio = boost::asio;

namespace {

std::string number_text(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  return std::to_string(v);
}

}  // namespace

struct AutoQuotas::Impl {
  struct Target {
    AutoQuotaTarget spec;
    BudgetLimits limits;
    std::string rpm_source = "fallback", tpm_source = "fallback";
    std::string rpm_problem, tpm_problem;  // the last warning logged (logged again only when it changes)
    bool store_fixed_warned = false;
  };
  std::vector<Target> targets;
  ListQuotas list;
  Log log;
  std::chrono::milliseconds interval;
  mutable std::mutex mu;
  bool stopped = false;
  std::uint64_t refreshes = 0;
  std::unique_ptr<asio::steady_timer> timer;

  void say(std::string_view level, const std::string& message) const {
    if (log) log(level, message);
  }

  std::string target_name(const Target& t) const { return t.spec.model_id + " in " + t.spec.region; }

  // One dimension of one target from this refresh's listing (or its error).
  void resolve(Target& t, bool tokens, const Result<std::vector<QuotaEntry>>& listing, const QuotaMatch* match,
               BudgetLimits& next) {
    const bool want = tokens ? t.spec.tpm_auto : t.spec.rpm_auto;
    if (!want) return;
    std::string& source = tokens ? t.tpm_source : t.rpm_source;
    std::string& problem = tokens ? t.tpm_problem : t.rpm_problem;
    double& value = tokens ? next.tpm : next.rpm;
    const double fallback = tokens ? t.spec.fallback.tpm : t.spec.fallback.rpm;
    const char* flag = tokens ? "--max-tpm" : "--max-rpm";
    std::string why;
    if (!listing) {
      why = "Service Quotas could not be read (" + listing.error().message + ")";
    } else if (const QuotaLookup& l = tokens ? match->tpm : match->rpm; !l.quota) {
      why = l.problem;
    } else {
      value = l.quota->value;
      source = "quota " + l.quota->code;
      if (!problem.empty()) {
        say("info", "target " + target_name(t) + ": " + flag + " auto: quota " + l.quota->code + " '" +
                        l.quota->name + "' read again");
      }
      problem.clear();
      return;
    }
    // Keep a value read before (a failed refresh does not undo a quota); else the fallback.
    if (source == "fallback") value = fallback;
    if (why != problem) {
      say("warn", "target " + target_name(t) + ": " + flag + " auto: " + why + "; " +
                      (source == "fallback" ? "using the configured " + number_text(fallback)
                                            : "keeping " + number_text(value) + " from " + source));
    }
    problem = why;
  }
};

AutoQuotas::AutoQuotas(std::vector<AutoQuotaTarget> targets, ListQuotas list, Log log,
                       std::chrono::milliseconds interval)
    : impl_(std::make_shared<Impl>()) {
  for (auto& t : targets) {
    Impl::Target it;
    it.limits = t.fallback;
    it.spec = std::move(t);
    impl_->targets.push_back(std::move(it));
  }
  impl_->list = std::move(list);
  impl_->log = std::move(log);
  impl_->interval = interval;
}

AutoQuotas::~AutoQuotas() {
  std::lock_guard lock(impl_->mu);
  impl_->stopped = true;
  if (impl_->timer) impl_->timer->cancel();
}

asio::awaitable<void> AutoQuotas::refresh() { return run_refresh(impl_); }

// The coroutine holds the state, not `this` (the object may go while a call is out).
asio::awaitable<void> AutoQuotas::run_refresh(std::shared_ptr<Impl> impl) {
  std::map<std::string, Result<std::vector<QuotaEntry>>> listings;  // by region
  for (const auto& t : impl->targets) {
    if (!t.spec.rpm_auto && !t.spec.tpm_auto) continue;
    if (listings.contains(t.spec.region)) continue;
    auto got = co_await impl->list(t.spec.region);
    if (impl->stopped) co_return;
    listings.emplace(t.spec.region, std::move(got));
  }
  for (auto& t : impl->targets) {
    if (!t.spec.rpm_auto && !t.spec.tpm_auto) continue;
    const auto& listing = listings.at(t.spec.region);
    std::optional<QuotaMatch> match;
    if (listing) match = match_bedrock_quotas(t.spec.model_id, *listing, t.spec.pins);
    BudgetLimits next = t.limits;
    impl->resolve(t, false, listing, match ? &*match : nullptr, next);
    impl->resolve(t, true, listing, match ? &*match : nullptr, next);
    const bool changed = next.rpm != t.limits.rpm || next.tpm != t.limits.tpm;
    {
      std::lock_guard lock(impl->mu);
      t.limits = next;
    }
    if (!changed) continue;
    const std::string what = "rpm " + number_text(next.rpm) + " (" + t.rpm_source + "), tpm " +
                             number_text(next.tpm) + " (" + t.tpm_source + ")";
    if (!t.spec.store) {
      impl->say("info", "target " + impl->target_name(t) + ": budgets from the account's quotas: " + what);
    } else if (t.spec.store->set_limits(t.spec.model_id, next)) {
      impl->say("info", "target " + impl->target_name(t) + ": quotas changed, budgets now " + what);
    } else if (!t.store_fixed_warned) {
      t.store_fixed_warned = true;
      impl->say("warn", "target " + impl->target_name(t) + ": quotas changed (" + what +
                            ") but the shared budget keeps its start-up budgets until the instances restart");
    }
  }
  std::lock_guard lock(impl->mu);
  ++impl->refreshes;
}

BudgetLimits AutoQuotas::limits(std::size_t i) const {
  std::lock_guard lock(impl_->mu);
  return impl_->targets.at(i).limits;
}

std::string AutoQuotas::rpm_source(std::size_t i) const {
  std::lock_guard lock(impl_->mu);
  return impl_->targets.at(i).rpm_source;
}

std::string AutoQuotas::tpm_source(std::size_t i) const {
  std::lock_guard lock(impl_->mu);
  return impl_->targets.at(i).tpm_source;
}

std::size_t AutoQuotas::size() const { return impl_->targets.size(); }

std::uint64_t AutoQuotas::refreshes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->refreshes;
}

void AutoQuotas::set_store(std::size_t i, BudgetStore* store) { impl_->targets.at(i).spec.store = store; }

void AutoQuotas::start(asio::io_context& io) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->timer || impl_->stopped) return;
    impl_->timer = std::make_unique<asio::steady_timer>(io);
  }
  std::shared_ptr<Impl> impl = impl_;
  asio::co_spawn(
      io,
      [impl]() -> asio::awaitable<void> {
        for (;;) {
          impl->timer->expires_after(impl->interval);
          auto [ec] = co_await impl->timer->async_wait(asio::as_tuple(asio::use_awaitable));
          if (ec || impl->stopped) co_return;
          co_await run_refresh(impl);
          if (impl->stopped) co_return;
        }
      },
      asio::detached);
}

}  // namespace ba::ratelimit
