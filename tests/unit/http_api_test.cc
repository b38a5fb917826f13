// Unit tests of the HTTP edge's error bodies (edges/http/http_api.h): the
// body of every refusal is JSON, whatever bytes of the request its message
// quotes.
#include "edges/http/http_api.h"

#include <gtest/gtest.h>

#include <string>

// Boost.JSON's definitions are compiled into openapi.cc (see openapi.h).
#include <boost/json.hpp>

namespace loyalty::http {
namespace {

// The message of the error body `body`, which must parse as JSON.
std::string MessageOf(const std::string& body) {
  boost::json::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << body;
  if (ec) return "";
  return std::string(v.at("message").as_string());
}

// A path that is not UTF-8 (found by fuzz_http_request: "GET /v1/mem\xe2ers")
// is quoted in the 404's message with U+FFFD for the stray bytes.
TEST(HttpApiErrorBodyTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  const std::string body = ErrorBody(absl::NotFoundError("unreadable path '/v1/mem\xe2" "ers/m-0001'"));
  EXPECT_EQ(MessageOf(body), "unreadable path '/v1/mem\xef\xbf\xbd" "ers/m-0001'");
  EXPECT_EQ(MessageOf(ErrorBody(absl::InvalidArgumentError("\xff\xfe: unknown parameter"))),
            "\xef\xbf\xbd\xef\xbf\xbd: unknown parameter");
  // Cut, overlong and surrogate sequences are not UTF-8 either.
  EXPECT_EQ(MessageOf(ErrorBody(absl::InvalidArgumentError("cut \xe2\x82"))), "cut \xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(MessageOf(ErrorBody(absl::InvalidArgumentError("overlong \xc0\xaf"))),
            "overlong \xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(MessageOf(ErrorBody(absl::InvalidArgumentError("surrogate \xed\xa0\x80"))),
            "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

// UTF-8 text and control characters keep their meaning.
TEST(HttpApiErrorBodyTest, Utf8AndControlCharactersAreKept) {
  const std::string text = "display_name: 'Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80' \"quoted\"\n\t\x01 back\\slash";
  const std::string body = ErrorBody(absl::InvalidArgumentError(text));
  EXPECT_EQ(MessageOf(body), text);
  EXPECT_NE(body.find("\\u0001"), std::string::npos);
  EXPECT_NE(body.find("\"status\":\"INVALID_ARGUMENT\""), std::string::npos);
}

}  // namespace
}  // namespace loyalty::http
