// Unit tests of the codec of stored programs (services/loyalty/codec.h):
// a stored program is read back without validation (ProgramStore::Open), so
// every value a damaged record may hold reads without undefined behaviour.
#include "services/loyalty/codec.h"

#include <gtest/gtest.h>

#include <climits>

namespace loyalty {
namespace {

// An offer kind of INT_MIN (found by fuzz_stored_records) reads as the
// first kind, like every kind at or below UNSPECIFIED; known kinds read as
// themselves and unknown ones keep their number.
TEST(CodecTest, EveryStoredOfferKindReads) {
  v1::Program p;
  for (int kind : {INT_MIN, -5, 0, 1, 8, 1000, INT_MAX}) p.add_offers()->set_kind(static_cast<v1::OfferKind>(kind));
  const engine::ProgramConfig c = codec::FromProto(p);
  ASSERT_EQ(c.offers.size(), 7u);
  EXPECT_EQ(c.offers[0].kind, engine::OfferKind::kPercentOff);
  EXPECT_EQ(c.offers[1].kind, engine::OfferKind::kPercentOff);
  EXPECT_EQ(c.offers[2].kind, engine::OfferKind::kPercentOff);
  EXPECT_EQ(c.offers[3].kind, engine::OfferKind::kPercentOff);
  EXPECT_EQ(c.offers[4].kind, engine::OfferKind::kStageNudge);
  EXPECT_EQ(static_cast<int>(c.offers[5].kind), 999);
  EXPECT_EQ(static_cast<int>(c.offers[6].kind), INT_MAX - 1);
  // And back: a known kind keeps its number.
  EXPECT_EQ(codec::ToProto(c).offers(4).kind(), v1::OFFER_KIND_STAGE_NUDGE);
}

}  // namespace
}  // namespace loyalty
