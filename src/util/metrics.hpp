#pragma once
// A small thread-safe metrics registry rendered in the Prometheus text exposition format 0.0.4.
//
//   metrics::Registry reg;
//   auto& waits = reg.counter("ba_ratelimit_waits_total", "Requests that waited for budget", {"model"});
//   waits.labels({"claude"}).inc();
//   std::string body = reg.render();   // GET /metrics, Content-Type: text/plain; version=0.0.4
//
// Families are registered at start-up (registering the same name again returns the same family if
// type, label names and buckets match, and throws std::invalid_argument otherwise). Children are
// created on first use of a label-value tuple and live as long as the registry; references to
// families and children stay valid. labels() with the wrong number of values throws
// std::invalid_argument (a programming error). Output: families in registration order, children
// sorted by label values; numbers in the shortest form that round-trips ("3", "0.25", "+Inf").
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ba::metrics {

class Counter {
 public:
  void inc(double v = 1.0);  // v < 0 is ignored (counters only go up)
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0);
  void dec(double v = 1.0) { inc(-v); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // sorted, without +Inf
  void observe(double v);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<std::uint64_t> counts_;  // per bucket (not cumulative), last is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Default buckets for durations in seconds (the Prometheus client defaults).
std::vector<double> default_seconds_buckets();

enum class Type { counter, gauge, histogram };

template <class M>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> buckets = {})
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), buckets_(std::move(buckets)) {}

  M& labels(const std::vector<std::string>& values);
  M& labels() { return labels(std::vector<std::string>{}); }  // a family without labels

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& buckets() const { return buckets_; }

  // Visits children in label-value order (holding the family lock).
  template <class F>
  void for_each(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& [values, child] : children_) f(values, *child);
  }

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry {
 public:
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<std::string> label_names = {},
                               std::vector<double> buckets = default_seconds_buckets());

  std::string render() const;  // text format 0.0.4

 private:
  struct Entry {
    Type type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  Entry* find(std::string_view name);
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // registration order; entries hold pointers so growth is safe
};

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Exposed for tests and for the JSON log.
std::string format_value(double v);               // 3, 0.25, 1e-05, +Inf, -Inf, NaN
std::string escape_label_value(std::string_view);  // \ -> \\, " -> \", newline -> \n
std::string escape_help(std::string_view);         // \ -> \\, newline -> \n

}  // namespace ba::metrics
