#include <tickflow/core/ids.hpp>

#include <type_traits>
#include <unordered_set>

#include "support/catch.hpp"

using tickflow::delta_id;
using tickflow::epoch;
using tickflow::page_id;

TEST_CASE("identifiers are distinct strong types", "[core][ids]") {
  STATIC_REQUIRE_FALSE(std::is_convertible_v<page_id, delta_id>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<delta_id, page_id>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<std::uint64_t, page_id>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<page_id, std::uint64_t>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<epoch, std::uint32_t>);
  STATIC_REQUIRE(sizeof(epoch) == 4);
  STATIC_REQUIRE(std::is_trivially_copyable_v<epoch>);
  CHECK(page_id{5}.value() == 5);
  CHECK(page_id{5} == page_id{5});
  CHECK(page_id{4} < page_id{5});
  CHECK(page_id{} == page_id{0});
}

TEST_CASE("epochs order and advance", "[core][ids]") {
  constexpr epoch e{41};
  STATIC_REQUIRE(e.next() == epoch{42});
  CHECK(epoch{1} < epoch{2});
  CHECK(epoch{2} >= epoch{2});
  CHECK(epoch::max().value() == 0xFFFFFFFFU);
}

TEST_CASE("identifiers hash apart when dense", "[core][ids]") {
  std::unordered_set<page_id> set;
  for (std::uint64_t i = 0; i < 10000; ++i) set.insert(page_id{i});
  CHECK(set.size() == 10000);
  CHECK(set.count(page_id{9999}) == 1);
  CHECK(set.count(page_id{10000}) == 0);
  CHECK(std::hash<page_id>{}(page_id{1}) != std::hash<page_id>{}(page_id{2}));
  CHECK(std::hash<epoch>{}(epoch{1}) != std::hash<epoch>{}(epoch{2}));
}
