// Histogram: latency recording with fixed log-linear buckets (about 1% resolution), for
// benchmarks and `cairn bench`. Not thread-safe: give each thread one and Merge() them.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace cairn {

// Log-linear buckets: 2^sub_bits linear buckets per power of two (values below 2^sub_bits have
// one bucket each). The bucket of `v`, and the largest value bucket `b` holds. Histogram and
// BackgroundScheduler (cairn/background.h) count in them.
int LogLinearBucket(uint64_t v, int sub_bits);
uint64_t LogLinearBucketUpper(int b, int sub_bits);

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
