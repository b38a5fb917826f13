// Unit tests of authentication and the authorisation rules.
#include "services/auth/auth.h"

#include <gtest/gtest.h>

#include "services/common/fingerprint.h"

namespace loyalty::auth {
namespace {

google::protobuf::RepeatedPtrField<internal::Credential> Credentials() {
  google::protobuf::RepeatedPtrField<internal::Credential> out;
  auto add = [&](const char* token, internal::Role role, const char* store, const char* member) {
    auto* c = out.Add();
    c->set_name(token);
    c->set_role(role);
    c->set_token_sha256(Sha256Hex(token));
    c->set_store_id(store);
    c->set_member_id(member);
  };
  add("term-1", internal::ROLE_TERMINAL, "store-1", "");
  add("mem-1", internal::ROLE_MEMBER, "", "m-1");
  add("adm", internal::ROLE_ADMIN, "", "");
  return out;
}

// Tokens map to their role and binding; missing or unknown ones are refused.
TEST(AuthTest, AuthenticatesBearerTokens) {
  auto a = Authenticator::Create(Credentials());
  ASSERT_TRUE(a.ok()) << a.status();
  auto t = a->Authenticate("Bearer term-1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->role, Role::kTerminal);
  EXPECT_EQ(t->store_id, "store-1");
  EXPECT_EQ(a->Authenticate("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a->Authenticate("Bearer nope").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a->Authenticate("Basic term-1").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a->Authenticate("Bearer ").status().code(), absl::StatusCode::kUnauthenticated);
}

// Configuration mistakes are refused with the field named.
TEST(AuthTest, RejectsBadCredentialConfig) {
  auto creds = Credentials();
  creds[0].set_token_sha256("ABC");
  EXPECT_EQ(Authenticator::Create(creds).status().message(),
            "credentials[0].token_sha256: must be 64 lower-case hex digits");
  creds = Credentials();
  creds[0].clear_store_id();
  EXPECT_EQ(Authenticator::Create(creds).status().message(),
            "credentials[0].store_id: a terminal credential is bound to one store");
  creds = Credentials();
  *creds.Add() = creds[1];
  EXPECT_EQ(Authenticator::Create(creds).status().message(),
            "credentials[3].token_sha256: the same token is configured twice");
}

// Terminal: only its store; member: only itself; admin: everything.
TEST(AuthTest, AuthorisationRules) {
  Principal terminal{Role::kTerminal, "t", "store-1", ""};
  Principal member{Role::kMember, "m", "", "m-1"};
  Principal admin{Role::kAdmin, "a", "", ""};
  EXPECT_TRUE(RequireTerminalOf(terminal, "store-1").ok());
  EXPECT_EQ(RequireTerminalOf(terminal, "store-2").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RequireTerminalOf(member, "store-1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(RequireTerminalOf(admin, "store-2").ok());
  EXPECT_TRUE(RequireMemberAccess(member, "m-1").ok());
  EXPECT_EQ(RequireMemberAccess(member, "m-2").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RequireMemberAccess(terminal, "m-1").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(RequireMemberAccess(admin, "m-2").ok());
  EXPECT_EQ(RequireAdmin(terminal).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RequireAdmin(member).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(RequireAdmin(admin).ok());
}

// A client certificate binds a terminal credential to the certificate's
// store; required, a terminal without one is refused; members need none.
TEST(AuthTest, TerminalCredentialsAreBoundToTheirCertificatesStore) {
  auto a = Authenticator::Create(Credentials());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->AuthenticateCall("Bearer term-1", "peer", "store-1").ok());
  EXPECT_TRUE(a->AuthenticateCall("Bearer term-1", "peer", "store-1/till-4").ok());
  EXPECT_TRUE(a->AuthenticateCall("Bearer term-1", "peer", "").ok());  // not required yet
  auto other = a->AuthenticateCall("Bearer term-1", "peer", "store-10");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(other.status().message().find("it belongs to store 'store-10'"), std::string::npos) << other.status();
  a->SetTerminalCertificates(true);
  auto none = a->AuthenticateCall("Bearer term-1", "peer", "");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(a->AuthenticateCall("Bearer mem-1", "peer", "").ok());
  EXPECT_TRUE(a->AuthenticateCall("Bearer adm", "peer", "").ok());
  // An unknown token stays UNAUTHENTICATED whatever the certificate.
  EXPECT_EQ(a->AuthenticateCall("Bearer nope", "peer", "store-1").status().code(), absl::StatusCode::kUnauthenticated);
}

// Each caller spends its own bucket: past it RESOURCE_EXHAUSTED with a hint.
TEST(AuthTest, RateLimitsArePerCaller) {
  auto a = Authenticator::Create(Credentials());
  ASSERT_TRUE(a.ok()) << a.status();
  CallRateLimits limits;
  limits.terminal = {1, 2};
  limits.member = {0, 0};  // none
  a->SetRateLimits(limits);
  EXPECT_TRUE(a->AuthenticateCall("Bearer term-1", "peer").ok());
  EXPECT_TRUE(a->AuthenticateCall("Bearer term-1", "peer").ok());
  auto limited = a->AuthenticateCall("Bearer term-1", "peer");
  ASSERT_EQ(limited.status().code(), absl::StatusCode::kResourceExhausted) << limited.status();
  EXPECT_GT(RetryAfterMs(limited.status()), 0);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(a->AuthenticateCall("Bearer mem-1", "peer").ok());
  EXPECT_TRUE(a->AuthenticateCall("Bearer adm", "peer").ok());
}

}  // namespace
}  // namespace loyalty::auth
