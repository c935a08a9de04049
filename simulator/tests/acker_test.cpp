// AckLedger: the controller's apply rule the Acker (fleet --ack, bench B3, the sync tests' test
// controller) acks by, without a broker.
#include "reclothes/simulator/acker.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>

namespace reclothes::simulator {
namespace {

msg::Events batch(std::initializer_list<std::uint64_t> seqs) {
  msg::Events b;
  for (std::uint64_t seq : seqs) {
    msg::Event e;
    e.seq = seq;
    e.kind = msg::EventKind::kDoorOpened;
    e.compartment = 1;
    b.events.push_back(e);
  }
  return b;
}

TEST(AckLedgerTest, ABatchThatContinuesWhatWasAppliedMovesItToItsLastSeq) {
  AckLedger ledger;
  const AckLedger::Step first = ledger.apply("box-1", batch({1, 2, 3}));
  EXPECT_EQ(first.before, 0u);
  EXPECT_EQ(first.after, 3u);
  const AckLedger::Step second = ledger.apply("box-1", batch({4, 5}));
  EXPECT_EQ(second.before, 3u);
  EXPECT_EQ(second.after, 5u);
  EXPECT_EQ(ledger.applied("box-1"), 5u);
}

TEST(AckLedgerTest, ABatchAfterAGapIsNotApplied) {
  AckLedger ledger;
  ledger.apply("box-1", batch({1, 2}));
  const AckLedger::Step gap = ledger.apply("box-1", batch({4, 5}));
  EXPECT_EQ(gap.before, 2u);
  EXPECT_EQ(gap.after, 2u) << "seq 3 is missing: the box resends from 3";
  EXPECT_EQ(ledger.apply("box-1", batch({3, 4, 5})).after, 5u);
}

TEST(AckLedgerTest, ResentAndOverlappingBatchesApplyOnlyWhatIsNew) {
  AckLedger ledger;
  ledger.apply("box-1", batch({1, 2, 3}));
  EXPECT_EQ(ledger.apply("box-1", batch({1, 2})).after, 3u) << "duplicates move nothing";
  const AckLedger::Step overlap = ledger.apply("box-1", batch({2, 3, 4}));
  EXPECT_EQ(overlap.before, 3u);
  EXPECT_EQ(overlap.after, 4u);
}

TEST(AckLedgerTest, EachBoxHasItsOwnSequence) {
  AckLedger ledger;
  ledger.apply("box-1", batch({1, 2, 3}));
  EXPECT_EQ(ledger.apply("box-2", batch({2, 3})).after, 0u) << "box-2 has not sent seq 1";
  EXPECT_EQ(ledger.apply("box-2", batch({1})).after, 1u);
  EXPECT_EQ(ledger.applied("box-1"), 3u);
  EXPECT_EQ(ledger.applied("box-3"), 0u);
  EXPECT_EQ(ledger.apply("box-1", msg::Events{}).after, 3u) << "an empty batch changes nothing";
}

}  // namespace
}  // namespace reclothes::simulator
