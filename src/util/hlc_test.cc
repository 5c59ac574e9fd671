#include "util/hlc.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(HybridClock, FollowsThePhysicalClock) {
  HybridClock c(7);
  Version a = c.Stamp(1000);
  EXPECT_EQ(Version::Make(1000, 0, 7), a);
  Version b = c.Stamp(1005);
  EXPECT_EQ(Version::Make(1005, 0, 7), b);
  EXPECT_LT(a, b);
  EXPECT_EQ(b, c.max());
}

TEST(HybridClock, CountsLogicallyWithinAMillisecondAndWhenTheClockStepsBack) {
  HybridClock c(1);
  Version a = c.Stamp(2000);
  Version b = c.Stamp(2000);
  Version d = c.Stamp(1500);  // the machine's clock stepped back
  EXPECT_EQ(Version::Make(2000, 1, 1), b);
  EXPECT_EQ(Version::Make(2000, 2, 1), d);
  EXPECT_LT(a, b);
  EXPECT_LT(b, d);
}

// Issue 15: every version the store accepts advances the clock, so a stamp is above it, even
// one from a writer with a higher id at the same hlc.
TEST(HybridClock, Issue15StampsAreAboveEveryObservedVersion) {
  HybridClock c(1);
  c.Stamp(100);
  const Version replica = Version::Make(5000, 9, 0xFFFFFFFF);
  c.Observe(replica);
  EXPECT_EQ(replica, c.max());
  Version s = c.Stamp(200);
  EXPECT_GT(s, replica);
  EXPECT_EQ(Version::Make(5000, 10, 1), s);
  // An older observation changes nothing.
  c.Observe(Version::Make(10, 0, 3));
  EXPECT_GT(c.Stamp(200), s);
  // A logical counter that overflows carries into the milliseconds: still increasing.
  HybridClock o(2);
  o.Observe(Version::Make(7, 0xFFFF, 2));
  EXPECT_EQ(Version::Make(8, 0, 2), o.Stamp(1));
}

}  // namespace
}  // namespace cairn
