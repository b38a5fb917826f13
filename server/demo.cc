#include "server/demo.h"

#include "base/str_cat.h"
#include "services/common/fingerprint.h"
#include "services/common/status_macros.h"

namespace loyalty::server {
namespace {

constexpr int kDemoMembers = 10;

struct DemoCredential {
  const char* token;
  internal::Role role;
  const char* store_id;
  const char* member_id;
};

constexpr DemoCredential kDemoCredentials[] = {
    {"demo-terminal-store-1", internal::ROLE_TERMINAL, "store-1", ""},
    {"demo-terminal-store-2", internal::ROLE_TERMINAL, "store-2", ""},
    {"demo-member-m-0001", internal::ROLE_MEMBER, "", "m-0001"},
    {"demo-admin", internal::ROLE_ADMIN, "", ""},
};

std::string TwoDigits(int n) { return loyalty::StrCat(n < 10 ? "0" : "", n); }

}  // namespace

std::string AddDemoCredentials(internal::ServerConfig& config) {
  std::string text = "demo credentials (send as 'authorization: Bearer <token>'):\n";
  for (const auto& d : kDemoCredentials) {
    auto* c = config.add_credentials();
    c->set_name(loyalty::StrCat("demo-", internal::Role_Name(d.role)));
    c->set_role(d.role);
    c->set_token_sha256(Sha256Hex(d.token));
    c->set_store_id(d.store_id);
    c->set_member_id(d.member_id);
    text += loyalty::StrCat("  ", d.token, "  (", internal::Role_Name(d.role),
                            *d.store_id ? loyalty::StrCat(" of ", d.store_id) : std::string(),
                            *d.member_id ? loyalty::StrCat(" for ", d.member_id) : std::string(), ")\n");
  }
  text += loyalty::StrCat("demo members m-0001..m-00", TwoDigits(kDemoMembers),
                          ", cards 4000000000000001.., phones +4915100000001..");
  return text;
}

absl::Status SeedDemoMembers(AdminOperations& admin) {
  auth::Principal system{auth::Role::kAdmin, "demo-seed", "", ""};
  for (int i = 1; i <= kDemoMembers; ++i) {
    v1::EnrollMemberRequest r;
    r.set_member_id(loyalty::StrCat("m-00", TwoDigits(i)));
    r.set_display_name(loyalty::StrCat("Demo Member ", i));
    r.set_card_number(loyalty::StrCat("40000000000000", TwoDigits(i)));
    r.set_phone(loyalty::StrCat("+49151000000", TwoDigits(i)));
    LOYALTY_RETURN_IF_ERROR(admin.EnrollMember(system, r).status());
  }
  return absl::OkStatus();
}

}  // namespace loyalty::server
