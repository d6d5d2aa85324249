//! Why the store refused a change, as data: the field it is about and a [`Reason`] with its
//! values. The words live once, in the catalogues (`locales/*/refusals.toml`): the operator
//! API and the CLI get the English text (`Display`), the portal the user's language
//! ([`Refusal::text`]). So no message is written twice, and a Danish operator never reads
//! the API's English on a page.

use super::rules::RuleKind;
use crate::text::{EN, Msgs};
use service_kit::accounts::WeakPassword;
use std::borrow::Cow;
use std::fmt;

/// What a refusal is about: a field of the input as the API names it (`name`, `week[2].on`),
/// a script's parameter or input, a job, or nothing (an empty name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The API's name of the field; the portal maps it to the form's label.
    Named(Cow<'static, str>),
    /// A script parameter by its position (from 1) and name.
    Parameter { position: i64, name: String },
    /// A script's declared input by its position (from 1) and name.
    Input { position: i64, name: String },
    /// A job by its id.
    Job(i64),
}

impl From<&'static str> for Field {
    fn from(name: &'static str) -> Self {
        Field::Named(Cow::Borrowed(name))
    }
}

impl From<String> for Field {
    fn from(name: String) -> Self {
        Field::Named(Cow::Owned(name))
    }
}

impl From<&String> for Field {
    fn from(name: &String) -> Self {
        Field::Named(Cow::Owned(name.clone()))
    }
}

impl Field {
    /// The API's name of the field, when it is one (and not empty).
    pub fn name(&self) -> Option<&str> {
        match self {
            Field::Named(n) if !n.is_empty() => Some(n),
            _ => None,
        }
    }

    /// The field in `m`'s language; empty for none.
    pub(crate) fn text(&self, m: &Msgs) -> String {
        match self {
            Field::Named(n) => n.to_string(),
            Field::Parameter { position, name } => fill(
                m.refuse_field_parameter,
                &[("position", position.to_string()), ("name", name.clone())],
            ),
            Field::Input { position, name } => fill(
                m.refuse_field_input,
                &[("position", position.to_string()), ("name", name.clone())],
            ),
            Field::Job(id) => fill(m.refuse_field_job, &[("id", id.to_string())]),
        }
    }
}

/// Why the input (or the state it meets) is refused. A variant per way of saying it; values
/// that differ between refusals of one kind (limits, names, lists) are its fields. Names of
/// things (groups, plans, scripts) are shown quoted, as the operator typed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Length {
        min: usize,
        max: usize,
    },
    AtMostChars {
        max: usize,
    },
    MustBeAtMostChars {
        max: usize,
    },
    AtMost {
        max: usize,
    },
    AtMostNot {
        max: usize,
        given: usize,
    },
    AtMostAtATime {
        max: usize,
    },
    OneOf {
        list: String,
    },
    GiveOneOf {
        list: String,
    },
    TypeNotOneOf {
        value: String,
        list: String,
    },
    NotAChoice {
        value: String,
        list: String,
    },
    Mandatory,
    NotWholeNumber {
        value: String,
    },
    NotBoolean {
        value: String,
    },
    NotDate {
        value: String,
    },
    NotTime {
        value: String,
        like: &'static str,
    },
    GiveTime,
    TimesLike,
    FileNotText,
    NotAFile {
        value_type: String,
    },
    NothingToKeep,
    FileName {
        max: usize,
    },
    ParamCount {
        takes: usize,
        given: usize,
    },
    /// A script still used: by group policies and by security rules (`"name" (id)` lists;
    /// either may be empty).
    ScriptInUse {
        name: String,
        policies: String,
        rules: String,
    },
    SecurityScriptNotJob {
        id: i64,
    },
    HiddenScriptNotJob {
        id: i64,
    },
    NoScript {
        id: i64,
    },
    NoSecurityScript {
        id: i64,
    },
    NoGroup {
        id: i64,
    },
    GivePcs,
    PcsNotOnSite,
    RestartUnfinished {
        status: String,
    },
    ScriptDeleted,
    FingerprintMalformed,
    NoKeyOffered,
    KeyMismatch {
        pending: String,
        given: String,
    },
    OfflineMinutesMin {
        min: i64,
    },
    OfflineMinutesRange {
        min: i64,
        max: i64,
    },
    GroupNameTaken {
        name: String,
    },
    PlanNameTaken {
        name: String,
    },
    CustomerNameTaken {
        name: String,
    },
    SiteUidTaken {
        uid: String,
    },
    UsernameTaken {
        username: String,
    },
    /// A group that rules are limited to: the rules by kind and id.
    GroupInRules {
        rules: Vec<(RuleKind, i64)>,
    },
    OnlySuperuserSecondFactor,
    OnlySuperuserSuperusers,
    Password(WeakPassword),
    UsernameChars {
        max: usize,
    },
    RoleScope,
    ListQuery,
    UserNotOnSite {
        id: i64,
    },
    UserHasNoRole {
        id: i64,
    },
    CustomerAdminTakesCustomer,
    RoleTakesSite {
        role: &'static str,
    },
    RemoveYourself,
    OwnRole,
    OnlyCustomerAdminMakes,
    IsCustomerAdmin {
        username: String,
    },
    GiveRuleName,
    GiveSecurityScript,
    GiveWindow,
    WrongRuleKind {
        belongs: RuleKind,
        kind: RuleKind,
    },
    RuleVanished,
    PlanVanished,
    KeyLength {
        max: usize,
    },
    KeyChars {
        key: String,
    },
    KeyReserved,
    GiveKey,
    ValueLength {
        max: usize,
    },
    SiteUidChars {
        uid: String,
    },
    SiteTooBig {
        uid: String,
        pcs: i64,
        max: i64,
    },
    LastSite {
        uid: String,
    },
    SevenDays {
        given: usize,
    },
    SameOnOff,
    ExceptionKind,
    EndBeforeStart,
    /// A closing time at or before its opening time (opening hours are within one day).
    CloseNotAfterOpen,
    TwoPlans {
        pc: String,
        first: String,
        second: String,
    },
    NoCoreScript {
        uid: String,
    },
    CoreScriptMissing {
        uid: String,
    },
    GivePlanName,
    GroupOnOtherPlan {
        name: String,
    },
    TooManySubscriptions {
        max: usize,
    },
    SubscriptionExists,
}

/// `text` quoted as Rust's `{:?}` quotes it: how the store has always shown typed names.
pub(crate) fn quoted(text: &str) -> String {
    format!("{text:?}")
}

/// `template` with each `{name}` replaced by its value; a name the template does not use is
/// left out (the Danish password text has no room for zxcvbn's English warning).
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn kind_word(k: RuleKind, m: &Msgs) -> &'static str {
    match k {
        RuleKind::Security => m.refuse_kind_security,
        RuleKind::Offline => m.refuse_kind_offline,
    }
}

impl Reason {
    /// The reason in `m`'s language, without the field.
    pub(crate) fn text(&self, m: &Msgs) -> String {
        use Reason as R;
        let n = |v: &dyn ToString| v.to_string();
        let (template, values): (&str, Vec<(&str, String)>) = match self {
            R::Length { min, max } => (m.refuse_length, vec![("min", n(min)), ("max", n(max))]),
            R::AtMostChars { max } => (m.refuse_at_most_chars, vec![("max", n(max))]),
            R::MustBeAtMostChars { max } => (m.refuse_must_be_at_most_chars, vec![("max", n(max))]),
            R::AtMost { max } => (m.refuse_at_most, vec![("max", n(max))]),
            R::AtMostNot { max, given } => (
                m.refuse_at_most_not,
                vec![("max", n(max)), ("given", n(given))],
            ),
            R::AtMostAtATime { max } => (m.refuse_at_most_at_a_time, vec![("max", n(max))]),
            R::OneOf { list } => (m.refuse_one_of, vec![("list", list.clone())]),
            R::GiveOneOf { list } => (m.refuse_give_one_of, vec![("list", list.clone())]),
            R::TypeNotOneOf { value, list } => (
                m.refuse_type_not_one_of,
                vec![("value", quoted(value)), ("list", list.clone())],
            ),
            R::NotAChoice { value, list } => (
                m.refuse_not_a_choice,
                vec![("value", quoted(value)), ("list", list.clone())],
            ),
            R::Mandatory => (m.refuse_mandatory, vec![]),
            R::NotWholeNumber { value } => {
                (m.refuse_not_whole_number, vec![("value", quoted(value))])
            }
            R::NotBoolean { value } => (m.refuse_not_boolean, vec![("value", quoted(value))]),
            R::NotDate { value } => (m.refuse_not_date, vec![("value", quoted(value))]),
            R::NotTime { value, like } => (
                m.refuse_not_time,
                vec![("value", quoted(value)), ("like", n(like))],
            ),
            R::GiveTime => (m.refuse_give_time, vec![]),
            R::TimesLike => (m.refuse_times_like, vec![]),
            R::FileNotText => (m.refuse_file_not_text, vec![]),
            R::NotAFile { value_type } => (
                m.refuse_not_a_file,
                vec![("value_type", value_type.clone())],
            ),
            R::NothingToKeep => (m.refuse_nothing_to_keep, vec![]),
            R::FileName { max } => (m.refuse_file_name, vec![("max", n(max))]),
            R::ParamCount { takes, given } => (
                m.refuse_param_count,
                vec![("takes", n(takes)), ("given", n(given))],
            ),
            R::ScriptInUse {
                name,
                policies,
                rules,
            } => {
                let mut uses = Vec::new();
                if !policies.is_empty() {
                    uses.push(fill(
                        m.refuse_script_policy_of,
                        &[("groups", policies.clone())],
                    ));
                }
                if !rules.is_empty() {
                    uses.push(fill(m.refuse_script_run_by, &[("rules", rules.clone())]));
                }
                let and = format!(" {} ", m.refuse_and);
                (
                    m.refuse_script_in_use,
                    vec![("name", quoted(name)), ("uses", uses.join(&and))],
                )
            }
            R::SecurityScriptNotJob { id } => {
                (m.refuse_security_script_not_job, vec![("id", n(id))])
            }
            R::HiddenScriptNotJob { id } => (m.refuse_hidden_script_not_job, vec![("id", n(id))]),
            R::NoScript { id } => (m.refuse_no_script, vec![("id", n(id))]),
            R::NoSecurityScript { id } => (m.refuse_no_security_script, vec![("id", n(id))]),
            R::NoGroup { id } => (m.refuse_no_group, vec![("id", n(id))]),
            R::GivePcs => (m.refuse_give_pcs, vec![]),
            R::PcsNotOnSite => (m.refuse_pcs_not_on_site, vec![]),
            R::RestartUnfinished { status } => (
                m.refuse_restart_unfinished,
                vec![("status", status.clone())],
            ),
            R::ScriptDeleted => (m.refuse_script_deleted, vec![]),
            R::FingerprintMalformed => (m.refuse_fingerprint_malformed, vec![]),
            R::NoKeyOffered => (m.refuse_no_key_offered, vec![]),
            R::KeyMismatch { pending, given } => (
                m.refuse_key_mismatch,
                vec![("pending", pending.clone()), ("given", given.clone())],
            ),
            R::OfflineMinutesMin { min } => (m.refuse_offline_minutes_min, vec![("min", n(min))]),
            R::OfflineMinutesRange { min, max } => (
                m.refuse_offline_minutes_range,
                vec![("min", n(min)), ("max", n(max))],
            ),
            R::GroupNameTaken { name } => (m.refuse_group_name_taken, vec![("name", quoted(name))]),
            R::PlanNameTaken { name } => (m.refuse_plan_name_taken, vec![("name", quoted(name))]),
            R::CustomerNameTaken { name } => {
                (m.refuse_customer_name_taken, vec![("name", quoted(name))])
            }
            R::SiteUidTaken { uid } => (m.refuse_site_uid_taken, vec![("uid", quoted(uid))]),
            R::UsernameTaken { username } => (
                m.refuse_username_taken,
                vec![("username", quoted(username))],
            ),
            R::GroupInRules { rules } => {
                let list: Vec<String> = rules
                    .iter()
                    .map(|(k, id)| {
                        fill(
                            m.refuse_rule_item,
                            &[("kind", kind_word(*k, m).to_owned()), ("id", n(id))],
                        )
                    })
                    .collect();
                let template = if rules.len() == 1 {
                    m.refuse_group_in_rule
                } else {
                    m.refuse_group_in_rules
                };
                (template, vec![("rules", list.join(", "))])
            }
            R::OnlySuperuserSecondFactor => (m.refuse_only_superuser_second_factor, vec![]),
            R::OnlySuperuserSuperusers => (m.refuse_only_superuser_superusers, vec![]),
            R::Password(WeakPassword::Empty) => (m.refuse_password_empty, vec![]),
            R::Password(WeakPassword::TooShort { min, chars }) => (
                m.refuse_password_short,
                vec![("min", n(min)), ("chars", n(chars))],
            ),
            R::Password(WeakPassword::TooLong { max_bytes }) => {
                (m.refuse_password_long, vec![("max", n(max_bytes))])
            }
            R::Password(WeakPassword::Guessable { warning }) => (
                m.refuse_password_guessable,
                vec![(
                    "why",
                    warning
                        .as_ref()
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default(),
                )],
            ),
            R::UsernameChars { max } => (m.refuse_username_chars, vec![("max", n(max))]),
            R::RoleScope => (m.refuse_role_scope, vec![]),
            R::ListQuery => (m.refuse_list_query, vec![]),
            R::UserNotOnSite { id } => (m.refuse_user_not_on_site, vec![("id", n(id))]),
            R::UserHasNoRole { id } => (m.refuse_user_has_no_role, vec![("id", n(id))]),
            R::CustomerAdminTakesCustomer => (m.refuse_customer_admin_takes_customer, vec![]),
            R::RoleTakesSite { role } => (m.refuse_role_takes_site, vec![("role", n(role))]),
            R::RemoveYourself => (m.refuse_remove_yourself, vec![]),
            R::OwnRole => (m.refuse_own_role, vec![]),
            R::OnlyCustomerAdminMakes => (m.refuse_only_customer_admin_makes, vec![]),
            R::IsCustomerAdmin { username } => (
                m.refuse_is_customer_admin,
                vec![("username", username.clone())],
            ),
            R::GiveRuleName => (m.refuse_give_rule_name, vec![]),
            R::GiveSecurityScript => (m.refuse_give_security_script, vec![]),
            R::GiveWindow => (m.refuse_give_window, vec![]),
            R::WrongRuleKind { belongs, kind } => (
                m.refuse_wrong_rule_kind,
                vec![
                    ("belongs", kind_word(*belongs, m).to_owned()),
                    ("kind", kind_word(*kind, m).to_owned()),
                ],
            ),
            R::RuleVanished => (m.refuse_rule_vanished, vec![]),
            R::PlanVanished => (m.refuse_plan_vanished, vec![]),
            R::KeyLength { max } => (m.refuse_key_length, vec![("max", n(max))]),
            R::KeyChars { key } => (m.refuse_key_chars, vec![("key", quoted(key))]),
            R::KeyReserved => (m.refuse_key_reserved, vec![]),
            R::GiveKey => (m.refuse_give_key, vec![]),
            R::ValueLength { max } => (m.refuse_value_length, vec![("max", n(max))]),
            R::SiteUidChars { uid } => (m.refuse_site_uid_chars, vec![("uid", quoted(uid))]),
            R::SiteTooBig { uid, pcs, max } => (
                m.refuse_site_too_big,
                vec![("uid", uid.clone()), ("pcs", n(pcs)), ("max", n(max))],
            ),
            R::LastSite { uid } => (m.refuse_last_site, vec![("uid", uid.clone())]),
            R::SevenDays { given } => (m.refuse_seven_days, vec![("given", n(given))]),
            R::SameOnOff => (m.refuse_same_on_off, vec![]),
            R::ExceptionKind => (m.refuse_exception_kind, vec![]),
            R::EndBeforeStart => (m.refuse_end_before_start, vec![]),
            R::CloseNotAfterOpen => (m.refuse_close_not_after_open, vec![]),
            R::TwoPlans { pc, first, second } => (
                m.refuse_two_plans,
                vec![
                    ("pc", quoted(pc)),
                    ("first", quoted(first)),
                    ("second", quoted(second)),
                ],
            ),
            R::NoCoreScript { uid } => (m.refuse_no_core_script, vec![("uid", quoted(uid))]),
            R::CoreScriptMissing { uid } => {
                (m.refuse_core_script_missing, vec![("uid", quoted(uid))])
            }
            R::GivePlanName => (m.refuse_give_plan_name, vec![]),
            R::GroupOnOtherPlan { name } => {
                (m.refuse_group_on_other_plan, vec![("name", quoted(name))])
            }
            R::TooManySubscriptions { max } => {
                (m.refuse_too_many_subscriptions, vec![("max", n(max))])
            }
            R::SubscriptionExists => (m.refuse_subscription_exists, vec![]),
        };
        fill(template, &values)
    }
}

/// A refusal: the field and why. Its `Display` is the English text the API and the CLI
/// give (`field: reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: Field,
    pub reason: Reason,
}

impl Refusal {
    pub fn new(field: impl Into<Field>, reason: Reason) -> Self {
        Refusal {
            field: field.into(),
            reason,
        }
    }

    /// `field: reason` (or the reason alone) in `m`'s language.
    pub(crate) fn text(&self, m: &Msgs) -> String {
        let field = self.field.text(m);
        let reason = self.reason.text(m);
        if field.is_empty() {
            reason
        } else {
            format!("{field}: {reason}")
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(&EN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::DA;

    /// One of each reason; `index` has no wildcard, so a new variant fails to compile until
    /// it has a number, and the test fails until it has an example here.
    fn examples() -> Vec<Reason> {
        use Reason as R;
        let s = |t: &str| t.to_owned();
        vec![
            R::Length { min: 1, max: 100 },
            R::AtMostChars { max: 200 },
            R::MustBeAtMostChars { max: 4096 },
            R::AtMost { max: 50 },
            R::AtMostNot {
                max: 1000,
                given: 1001,
            },
            R::AtMostAtATime { max: 1000 },
            R::OneOf { list: s("a, b") },
            R::GiveOneOf { list: s("a, b") },
            R::TypeNotOneOf {
                value: s("X"),
                list: s("INT, DATE"),
            },
            R::NotAChoice {
                value: s("c"),
                list: s("a, b"),
            },
            R::Mandatory,
            R::NotWholeNumber { value: s("4x") },
            R::NotBoolean { value: s("kanske") },
            R::NotDate { value: s("24-12") },
            R::NotTime {
                value: s("25:00"),
                like: "08:00",
            },
            R::GiveTime,
            R::TimesLike,
            R::FileNotText,
            R::NotAFile {
                value_type: s("INT"),
            },
            R::NothingToKeep,
            R::FileName { max: 200 },
            R::ParamCount { takes: 2, given: 1 },
            R::ScriptInUse {
                name: s("x"),
                policies: s("\"g\" (1)"),
                rules: s("\"r\" (2)"),
            },
            R::SecurityScriptNotJob { id: 1 },
            R::HiddenScriptNotJob { id: 1 },
            R::NoScript { id: 1 },
            R::NoSecurityScript { id: 1 },
            R::NoGroup { id: 1 },
            R::GivePcs,
            R::PcsNotOnSite,
            R::RestartUnfinished {
                status: s("RUNNING"),
            },
            R::ScriptDeleted,
            R::FingerprintMalformed,
            R::NoKeyOffered,
            R::KeyMismatch {
                pending: s("abcd1234"),
                given: s("ffff0000"),
            },
            R::OfflineMinutesMin { min: 15 },
            R::OfflineMinutesRange {
                min: 15,
                max: 10_080,
            },
            R::GroupNameTaken { name: s("Lab") },
            R::PlanNameTaken { name: s("Nat") },
            R::CustomerNameTaken { name: s("Kommune") },
            R::SiteUidTaken { uid: s("bib") },
            R::UsernameTaken { username: s("op") },
            R::GroupInRules {
                rules: vec![(RuleKind::Security, 1), (RuleKind::Offline, 2)],
            },
            R::OnlySuperuserSecondFactor,
            R::OnlySuperuserSuperusers,
            R::Password(WeakPassword::Empty),
            R::UsernameChars { max: 150 },
            R::RoleScope,
            R::ListQuery,
            R::UserNotOnSite { id: 3 },
            R::UserHasNoRole { id: 3 },
            R::CustomerAdminTakesCustomer,
            R::RoleTakesSite { role: "site_admin" },
            R::RemoveYourself,
            R::OwnRole,
            R::OnlyCustomerAdminMakes,
            R::IsCustomerAdmin { username: s("op") },
            R::GiveRuleName,
            R::GiveSecurityScript,
            R::GiveWindow,
            R::WrongRuleKind {
                belongs: RuleKind::Offline,
                kind: RuleKind::Security,
            },
            R::RuleVanished,
            R::PlanVanished,
            R::KeyLength { max: 100 },
            R::KeyChars { key: s("a b") },
            R::KeyReserved,
            R::GiveKey,
            R::ValueLength { max: 4096 },
            R::SiteUidChars { uid: s("Bib") },
            R::SiteTooBig {
                uid: s("bib"),
                pcs: 20,
                max: 10,
            },
            R::LastSite { uid: s("bib") },
            R::SevenDays { given: 6 },
            R::SameOnOff,
            R::ExceptionKind,
            R::EndBeforeStart,
            R::CloseNotAfterOpen,
            R::TwoPlans {
                pc: s("pc1"),
                first: s("A"),
                second: s("B"),
            },
            R::NoCoreScript { uid: s("core") },
            R::CoreScriptMissing { uid: s("core") },
            R::GivePlanName,
            R::GroupOnOtherPlan { name: s("Lab") },
            R::TooManySubscriptions { max: 20 },
            R::SubscriptionExists,
        ]
    }

    /// The variant's number, for counting the examples.
    fn index(r: &Reason) -> usize {
        use Reason as R;
        match r {
            R::Length { .. } => 0,
            R::AtMostChars { .. } => 1,
            R::MustBeAtMostChars { .. } => 2,
            R::AtMost { .. } => 3,
            R::AtMostNot { .. } => 4,
            R::AtMostAtATime { .. } => 5,
            R::OneOf { .. } => 6,
            R::GiveOneOf { .. } => 7,
            R::TypeNotOneOf { .. } => 8,
            R::NotAChoice { .. } => 9,
            R::Mandatory => 10,
            R::NotWholeNumber { .. } => 11,
            R::NotBoolean { .. } => 12,
            R::NotDate { .. } => 13,
            R::NotTime { .. } => 14,
            R::GiveTime => 15,
            R::TimesLike => 16,
            R::FileNotText => 17,
            R::NotAFile { .. } => 18,
            R::NothingToKeep => 19,
            R::FileName { .. } => 20,
            R::ParamCount { .. } => 21,
            R::ScriptInUse { .. } => 22,
            R::SecurityScriptNotJob { .. } => 23,
            R::HiddenScriptNotJob { .. } => 24,
            R::NoScript { .. } => 25,
            R::NoSecurityScript { .. } => 26,
            R::NoGroup { .. } => 27,
            R::GivePcs => 28,
            R::PcsNotOnSite => 29,
            R::RestartUnfinished { .. } => 30,
            R::ScriptDeleted => 31,
            R::FingerprintMalformed => 32,
            R::NoKeyOffered => 33,
            R::KeyMismatch { .. } => 34,
            R::OfflineMinutesMin { .. } => 35,
            R::OfflineMinutesRange { .. } => 36,
            R::GroupNameTaken { .. } => 37,
            R::PlanNameTaken { .. } => 38,
            R::CustomerNameTaken { .. } => 39,
            R::SiteUidTaken { .. } => 40,
            R::UsernameTaken { .. } => 41,
            R::GroupInRules { .. } => 42,
            R::OnlySuperuserSecondFactor => 43,
            R::OnlySuperuserSuperusers => 44,
            R::Password(_) => 45,
            R::UsernameChars { .. } => 46,
            R::RoleScope => 47,
            R::ListQuery => 48,
            R::UserNotOnSite { .. } => 49,
            R::UserHasNoRole { .. } => 50,
            R::CustomerAdminTakesCustomer => 51,
            R::RoleTakesSite { .. } => 52,
            R::RemoveYourself => 53,
            R::OwnRole => 54,
            R::OnlyCustomerAdminMakes => 55,
            R::IsCustomerAdmin { .. } => 56,
            R::GiveRuleName => 57,
            R::GiveSecurityScript => 58,
            R::GiveWindow => 59,
            R::WrongRuleKind { .. } => 60,
            R::RuleVanished => 61,
            R::PlanVanished => 62,
            R::KeyLength { .. } => 63,
            R::KeyChars { .. } => 64,
            R::KeyReserved => 65,
            R::GiveKey => 66,
            R::ValueLength { .. } => 67,
            R::SiteUidChars { .. } => 68,
            R::SiteTooBig { .. } => 69,
            R::LastSite { .. } => 70,
            R::SevenDays { .. } => 71,
            R::SameOnOff => 72,
            R::ExceptionKind => 73,
            R::EndBeforeStart => 74,
            R::TwoPlans { .. } => 75,
            R::NoCoreScript { .. } => 76,
            R::CoreScriptMissing { .. } => 77,
            R::GivePlanName => 78,
            R::GroupOnOtherPlan { .. } => 79,
            R::TooManySubscriptions { .. } => 80,
            R::SubscriptionExists => 81,
            R::CloseNotAfterOpen => 82,
        }
    }

    const VARIANTS: usize = 83;

    /// Reasons whose Danish words are the English ones (a term both languages use).
    const SAME_IN_BOTH: &[usize] = &[];

    #[test]
    fn every_reason_renders_in_both_languages() {
        let mut all = examples();
        all.extend([
            Reason::Password(WeakPassword::TooShort { min: 10, chars: 3 }),
            Reason::Password(WeakPassword::TooLong { max_bytes: 1024 }),
            Reason::Password(WeakPassword::Guessable {
                warning: Some("This is a top-10 common password.".into()),
            }),
        ]);
        let mut seen = [false; VARIANTS];
        for r in &all {
            seen[index(r)] = true;
            let (da, en) = (r.text(&DA), r.text(&EN));
            for text in [&da, &en] {
                assert!(!text.trim().is_empty(), "{r:?}");
                assert!(
                    !text.contains('{') && !text.contains('}'),
                    "{r:?}: a value not filled in: {text}"
                );
            }
            if !SAME_IN_BOTH.contains(&index(r)) {
                assert_ne!(da, en, "{r:?} reads the same in Danish");
            }
        }
        let missing: Vec<usize> = (0..VARIANTS).filter(|i| !seen[*i]).collect();
        assert!(
            missing.is_empty(),
            "reasons without an example: {missing:?}"
        );
    }

    #[test]
    fn the_english_text_is_the_apis() {
        let r = Refusal::new("name", Reason::Length { min: 1, max: 100 });
        assert_eq!(r.to_string(), "name: must be 1 to 100 characters");
        assert_eq!(r.text(&DA), "name: skal være 1 til 100 tegn");
        let r = Refusal::new(
            Field::Parameter {
                position: 2,
                name: "Dato".into(),
            },
            Reason::NotDate { value: "x".into() },
        );
        assert_eq!(
            r.to_string(),
            "parameter 2 (Dato): \"x\" is not a date like 2026-12-24"
        );
        let r = Refusal::new(
            "group",
            Reason::GroupInRules {
                rules: vec![(RuleKind::Security, 1), (RuleKind::Offline, 2)],
            },
        );
        assert_eq!(
            r.to_string(),
            "group: security rule 1, offline rule 2 are limited to this group; take the group out of them first"
        );
        assert_eq!(
            r.text(&DA),
            "group: sikkerhedsregel 1, offlineregel 2 er begrænset til denne gruppe; tag gruppen ud af dem først"
        );
        let r = Refusal::new("", Reason::OnlySuperuserSuperusers);
        assert_eq!(r.to_string(), "only a superuser may create superusers");
    }
}
