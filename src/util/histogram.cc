#include "util/histogram.h"

#include <algorithm>
#include <cmath>

namespace cairn {

int Histogram::BucketOf(uint64_t v) {
  if (v < (uint64_t{1} << kSubBits)) return static_cast<int>(v);
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - kSubBits;
  uint64_t sub = (v >> shift) & ((uint64_t{1} << kSubBits) - 1);
  return (shift + 1) * (1 << kSubBits) + static_cast<int>(sub);
}

uint64_t Histogram::BucketUpper(int b) {
  if (b < (1 << kSubBits)) return static_cast<uint64_t>(b);
  int shift = b / (1 << kSubBits) - 1;
  uint64_t sub = static_cast<uint64_t>(b % (1 << kSubBits));
  return (((uint64_t{1} << kSubBits) | sub) << shift) + ((uint64_t{1} << shift) - 1);
}

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
