// Histogram: latency recording with fixed log-linear buckets (about 1% resolution), for
// benchmarks and `cairn bench`. Not thread-safe: give each thread one and Merge() them.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace cairn {

class Histogram {
 public:
  void Add(uint64_t value);
  void Merge(const Histogram& other);
  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }
  // Value at quantile q in [0, 1]; exact to the bucket width.
  uint64_t Percentile(double q) const;

 private:
  static constexpr int kSubBits = 6;  // 64 linear buckets per power of two
  static constexpr int kBuckets = 64 * (64 - kSubBits + 1);
  static int BucketOf(uint64_t v);
  static uint64_t BucketUpper(int b);
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
};

}  // namespace cairn
