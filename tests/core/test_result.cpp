#include <tickflow/core/result.hpp>

#include <memory>
#include <string>

#include "support/catch.hpp"

using tickflow::errc;
using tickflow::result;
using tickflow::unexpected;

namespace {
result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return unexpected(errc::invalid_argument, static_cast<std::uint64_t>(c), "not a digit");
  return c - '0';
}
int live_strings = 0;
struct counted {
  std::string s;
  explicit counted(std::string v) : s(std::move(v)) { ++live_strings; }
  counted(const counted& o) : s(o.s) { ++live_strings; }
  counted(counted&& o) noexcept : s(std::move(o.s)) { ++live_strings; }
  ~counted() { --live_strings; }
};
}  // namespace

TEST_CASE("result holds a value or a typed error", "[core][result]") {
  auto ok = parse_digit('7');
  REQUIRE(ok.has_value());
  CHECK(*ok == 7);
  CHECK(ok.value() == 7);
  CHECK(ok.value_or(-1) == 7);

  auto bad = parse_digit('x');
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_argument);
  CHECK(bad.error().detail == static_cast<std::uint64_t>('x'));
  CHECK(std::string(bad.error().message) == "not a digit");
  CHECK(bad.value_or(-1) == -1);
  CHECK_THROWS_AS(bad.value(), tickflow::bad_result_access);
  try {
    (void)bad.value();
  } catch (const tickflow::bad_result_access& e) {
    CHECK(e.get().code == errc::invalid_argument);
  }
}

TEST_CASE("result<void> and error names", "[core][result]") {
  result<void> fine;
  CHECK(fine.has_value());
  CHECK_NOTHROW(fine.value());
  result<void> broken = unexpected(errc::cycle, 3);
  CHECK_FALSE(broken);
  CHECK(broken.error().code == errc::cycle);
  CHECK_THROWS_AS(broken.value(), tickflow::bad_result_access);
  CHECK(tickflow::to_string(errc::epoch_regression) == "epoch_regression");
  CHECK(tickflow::to_string(errc::io_error) == "io_error");
  CHECK(tickflow::to_string(static_cast<errc>(999)) == "unknown");
}

TEST_CASE("result manages the lifetime of non-trivial values", "[core][result]") {
  {
    result<counted> a = counted("alpha");
    result<counted> b = a;                 // copy
    result<counted> c = std::move(a);      // move
    result<counted> e = unexpected(errc::not_found);
    CHECK(live_strings == 3);
    e = c;                                 // error -> value
    CHECK(live_strings == 4);
    CHECK(e->s == "alpha");
    b = unexpected(errc::io_error);        // value -> error (via converting construction)
    CHECK(live_strings == 3);
    CHECK(b.error().code == errc::io_error);
  }
  CHECK(live_strings == 0);
  result<std::unique_ptr<int>> up = std::make_unique<int>(5);
  result<std::unique_ptr<int>> up2 = std::move(up);
  CHECK(**up2 == 5);
}
