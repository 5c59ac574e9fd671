#include "util/histogram.h"

#include <gtest/gtest.h>

namespace cairn {

TEST(Histogram, PercentilesWithinOnePercent) {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; v++) h.Add(v);
  EXPECT_EQ(100000u, h.count());
  EXPECT_NEAR(50000.0, static_cast<double>(h.Percentile(0.5)), 50000 * 0.02);
  EXPECT_NEAR(99000.0, static_cast<double>(h.Percentile(0.99)), 99000 * 0.02);
  EXPECT_EQ(100000u, h.Percentile(1.0));
  EXPECT_EQ(1u, h.min());
}

TEST(Histogram, MergeAddsCounts) {
  Histogram a, b;
  a.Add(10);
  b.Add(1000);
  a.Merge(b);
  EXPECT_EQ(2u, a.count());
  EXPECT_EQ(1000u, a.max());
  EXPECT_EQ(10u, a.Percentile(0.5));
}

}  // namespace cairn
