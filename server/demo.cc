#include "server/demo.h"

#include "base/str_cat.h"
#include "services/common/fingerprint.h"
#include "services/common/status_macros.h"

namespace loyalty::server {
namespace {

constexpr int kDemoMembers = 10;

struct DemoCredential {
  const char* name;  // what the audit trail and the ledger show as author
  const char* token;
  internal::Role role;
  const char* store_id;
  const char* member_id;
};

constexpr DemoCredential kDemoCredentials[] = {
    {"demo terminals of store-1", "demo-terminal-store-1", internal::ROLE_TERMINAL, "store-1", ""},
    {"demo terminals of store-2", "demo-terminal-store-2", internal::ROLE_TERMINAL, "store-2", ""},
    {"demo member m-0001", "demo-member-m-0001", internal::ROLE_MEMBER, "", "m-0001"},
    {"demo admin", "demo-admin", internal::ROLE_ADMIN, "", ""},
};

std::string TwoDigits(int n) { return loyalty::StrCat(n < 10 ? "0" : "", n); }

}  // namespace

std::string AddDemoCredentials(internal::ServerConfig& config) {
  std::string text = "demo credentials (send as 'authorization: Bearer <token>'):\n";
  for (const auto& d : kDemoCredentials) {
    auto* c = config.add_credentials();
    c->set_name(d.name);
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

engine::ProgramConfig DemoProgram(const std::string& currency) {
  using engine::OfferKind;
  engine::ProgramConfig p = engine::DefaultProgram(currency);
  p.pending_days = 14;  // the return window
  p.category_multipliers = {{"coffee", 200}};
  p.excluded_categories = {"tobacco", "gift-cards"};
  auto offer = [](std::string id, std::string title, OfferKind kind) {
    engine::OfferTemplate o;
    o.id = std::move(id);
    o.title = std::move(title);
    o.kind = kind;
    return o;
  };
  engine::OfferTemplate punch = offer("coffee-card", "Every 8th coffee free", OfferKind::kPunchCard);
  punch.punch_visits = 8;
  punch.categories = {"coffee"};
  engine::OfferTemplate bakery = offer("bakery-10", "10% off bakery", OfferKind::kPercentOff);
  bakery.percent_off = 10;
  bakery.categories = {"bakery"};
  bakery.affinity_category = "coffee";  // cross-sell to coffee buyers
  bakery.per_member_limit = 4;
  engine::OfferTemplate back = offer("we-miss-you", "150 bonus points when you come back", OfferKind::kWinBack);
  back.bonus_points = 150;
  back.lapse_pct = 200;
  back.per_member_limit = 1;
  engine::OfferTemplate tier = offer("next-tier", "50 bonus points toward your next tier", OfferKind::kTierNudge);
  tier.bonus_points = 50;
  tier.per_member_limit = 2;
  engine::OfferTemplate stage = offer("second-visit", "25 bonus points on your next visit", OfferKind::kStageNudge);
  stage.bonus_points = 25;
  stage.stages = {"new"};
  stage.per_member_limit = 1;
  engine::OfferTemplate birthday = offer("birthday", "200 birthday points", OfferKind::kBirthday);
  birthday.bonus_points = 200;
  birthday.per_member_limit = 1;
  engine::OfferTemplate wine = offer("wine-5", "5.00 off wine over 30.00", OfferKind::kAmountOff);
  wine.amount_off_minor = 500;
  wine.categories = {"wine"};
  wine.min_basket_minor = 3000;
  wine.tiers = {"Silver", "Gold"};
  wine.budget_redemptions = 1000;
  p.offers = {punch, bakery, back, tier, stage, birthday, wine};
  p.rewards = {{"free-coffee", "A free coffee", 150, {"coffee"}, 450, 0, 30},
               {"pastry", "A free pastry", 250, {"bakery"}, 400, 0, 30},
               {"tote-bag", "Loyalty tote bag", 800, {"household"}, 1500, 500, 60}};
  return p;
}

absl::Status SeedDemoMembers(AdminOperations& admin) {
  auth::Principal system{auth::Role::kAdmin, "demo-seed", "", ""};
  for (int i = 1; i <= kDemoMembers; ++i) {
    v1::EnrollMemberRequest r;
    r.set_member_id(loyalty::StrCat("m-00", TwoDigits(i)));
    r.set_display_name(loyalty::StrCat("Demo Member ", i));
    r.set_card_number(loyalty::StrCat("40000000000000", TwoDigits(i)));
    r.set_phone(loyalty::StrCat("+49151000000", TwoDigits(i)));
    r.set_birthday(loyalty::StrCat("0", 1 + i % 9, "-", TwoDigits(1 + i)));
    LOYALTY_RETURN_IF_ERROR(admin.EnrollMember(system, r).status());
  }
  return absl::OkStatus();
}

}  // namespace loyalty::server
