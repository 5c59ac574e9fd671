#include "util/histogram.h"

#include <algorithm>
#include <cmath>

namespace cairn {

int LogLinearBucket(uint64_t v, int sub_bits) {
  if (v < (uint64_t{1} << sub_bits)) return static_cast<int>(v);
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - sub_bits;
  uint64_t sub = (v >> shift) & ((uint64_t{1} << sub_bits) - 1);
  return (shift + 1) * (1 << sub_bits) + static_cast<int>(sub);
}

uint64_t LogLinearBucketUpper(int b, int sub_bits) {
  if (b < (1 << sub_bits)) return static_cast<uint64_t>(b);
  int shift = b / (1 << sub_bits) - 1;
  uint64_t sub = static_cast<uint64_t>(b % (1 << sub_bits));
  return (((uint64_t{1} << sub_bits) | sub) << shift) + ((uint64_t{1} << shift) - 1);
}

int Histogram::BucketOf(uint64_t v) { return LogLinearBucket(v, kSubBits); }

uint64_t Histogram::BucketUpper(int b) { return LogLinearBucketUpper(b, kSubBits); }

void Histogram::Add(uint64_t v) {
  buckets_[BucketOf(v)]++;
  count_++;
  sum_ += v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void Histogram::Merge(const Histogram& o) {
  for (int i = 0; i < kBuckets; i++) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; i++) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(std::max(BucketUpper(i), min_), max_);
  }
  return max_;
}

}  // namespace cairn
