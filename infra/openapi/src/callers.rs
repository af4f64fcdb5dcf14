//! "Who may call": every operation's last paragraph, read from the access
//! policy ([`carehub_domain::policy::table`]) and never typed here, so the
//! document cannot disagree with the rules the components enforce.
//!
//! Every form starts with "Who may call": one line for an operation with
//! one rule ([`line()`]), a list per role for operations whose rule depends on
//! a document kind or submission type ([`per_role`]), a list per case for an
//! endpoint that does one of several operations ([`per_case`]).

use carehub_domain::Role;
use carehub_domain::policy::table::{Condition, Operation, condition, who_may_call};

/// "Who may call: municipality (when …); portal (when …)."
pub fn line(op: Operation) -> String {
    format!("Who may call: {}.", who_may_call(op))
}

/// For operations that differ per item (a document kind, a submission
/// type): one line per role that may do any of them, the items grouped by
/// the condition under which it may, e.g. "- care-service: `physician_opinion`
/// (when the caller authored the document); `insurance_certificate`,
/// `burden_ratio_certificate` (when the caller is registered …)".
pub fn per_role(what: &str, items: &[(&str, Operation)]) -> String {
    let mut lines = vec![format!("Who may call, per role and {what}:")];
    for role in Role::ALL {
        let groups = groups(role, items);
        if groups.is_empty() {
            continue;
        }
        let text: Vec<String> = groups
            .into_iter()
            .map(|(words, names)| match words.as_str() {
                "always" => names.join(", "),
                _ => format!("{} ({words})", names.join(", ")),
            })
            .collect();
        lines.push(format!("- {role}: {}", text.join("; ")));
    }
    if lines.len() == 1 {
        lines.push("- nobody".into());
    }
    lines.join("\n")
}

/// The items `role` may do, as `(condition in words, item names)` in the
/// order each condition first appears.
fn groups(role: Role, items: &[(&str, Operation)]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for &(name, op) in items {
        let words = match condition(op, role) {
            None | Some(Condition::Never) => continue,
            Some(c) => c.words(op),
        };
        let name = format!("`{name}`");
        match groups.iter_mut().find(|(w, _)| *w == words) {
            Some((_, names)) => names.push(name),
            None => groups.push((words, vec![name])),
        }
    }
    groups
}

/// For an endpoint that does one of several operations depending on the
/// request: one line per case, e.g. "- `withdrawn`: municipality (…); …".
pub fn per_case(what: &str, cases: &[(&str, Operation)]) -> String {
    let mut lines = vec![format!("Who may call, per {what}:")];
    for (case, op) in cases {
        lines.push(format!("- {case}: {}", who_may_call(*op)));
    }
    lines.join("\n")
}
