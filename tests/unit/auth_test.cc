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

}  // namespace
}  // namespace loyalty::auth
