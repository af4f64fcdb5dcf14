//! Every access rule as one table: role × operation × relationship.
//!
//! [`permits`] answers "may a principal of this role do this, standing in
//! this relationship to the person and the thing" by calling the very
//! functions the components call (never a rule of its own), and
//! [`condition`] reads the answer back as a short condition ("insurer",
//! "registered+consent", "own or registered+consent", …) by trying every
//! relationship the role can stand in. The exhaustive test below checks
//! those conditions, for every role and operation, against a table written
//! from DESIGN.md independently of the code; the OpenAPI document's "who may
//! call" text is [`who_may_call`], so the document cannot disagree with the
//! code either.

use std::fmt;

use super::matrix::{ReadContext, decide, viewer_for};
use super::{consent, ingest, progress, records, registration, relay, webhooks};
use crate::consent::{ConsentEvent, ConsentMethod, ConsentState, Giver};
use crate::ids::{InsuredNumber, InsurerNumber};
use crate::kinds::DocumentKind;
use crate::principal::{PersonActor, PersonRef, Principal, Role};
use crate::registration::RegistrationState;
use crate::relay::SubmissionType;

/// Something a principal may try to do. Recording "could not be obtained"
/// follows the same rule as recording consent ([`Operation::RecordConsent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Read a document of a kind (or see it in the person's list).
    Read(DocumentKind),
    /// Store a document of a kind through ingest.
    Ingest(DocumentKind),
    /// Record that the person gave consent, or that it could not be obtained.
    RecordConsent,
    /// Record the person's withdrawal.
    RecordWithdrawal,
    /// See the person's consent state and history.
    ViewConsent,
    /// Register as the person's responsible office.
    Register,
    /// List one's own registrations.
    ListOwnRegistrations,
    /// See one registration.
    ViewRegistration,
    /// End a registration.
    Deregister,
    /// List the person's responsible offices.
    ListPersonRegistrations,
    /// List who read what about the person.
    ListAccesses,
    /// Record or advance the person's certification application.
    ManageProgress,
    /// Read the person's certification progress.
    ViewProgress,
    /// List the open applications of one's own insured persons.
    ListOpenApplications,
    /// Send a submission through the relay.
    Send(SubmissionType),
    /// See a submission's state.
    ViewSubmission,
    /// Acknowledge or reject a submission.
    AnswerSubmission,
    /// Pull the relay inbox.
    PullInbox,
    /// Subscribe to webhooks.
    Subscribe,
    /// See, rotate, enable or redeliver a subscription's messages.
    ManageSubscription,
    /// Run the webhook dispatcher.
    Dispatch,
    /// Fetch the access log's signed checkpoints and their consistency
    /// proofs.
    FetchCheckpoints,
    /// Run the access log's checkpoint job.
    MakeCheckpoint,
}

impl Operation {
    /// Every operation: reads and ingests per kind, then the rest.
    pub fn all() -> Vec<Operation> {
        use Operation::*;
        let mut ops: Vec<Operation> = DocumentKind::ALL.into_iter().map(Read).collect();
        ops.extend(DocumentKind::ALL.into_iter().map(Ingest));
        ops.extend([
            RecordConsent,
            RecordWithdrawal,
            ViewConsent,
            Register,
            ListOwnRegistrations,
            ViewRegistration,
            Deregister,
            ListPersonRegistrations,
            ListAccesses,
            ManageProgress,
            ViewProgress,
            ListOpenApplications,
        ]);
        ops.extend(SubmissionType::ALL.into_iter().map(Send));
        ops.extend([
            ViewSubmission,
            AnswerSubmission,
            PullInbox,
            Subscribe,
            ManageSubscription,
            Dispatch,
            FetchCheckpoints,
            MakeCheckpoint,
        ]);
        ops
    }

    /// What "own" means for this operation (see [`Relationship::own`]).
    pub const fn own_means(self) -> &'static str {
        use Operation::*;
        match self {
            Read(_) => "the caller authored the document",
            ViewRegistration | Deregister => "the registration is the caller's",
            Send(SubmissionType::PhysicianOpinion) => {
                "the municipality asked the caller for the opinion or named no institution"
            }
            ViewSubmission | AnswerSubmission => "the caller sent the submission",
            ManageSubscription => "the subscription is the caller's",
            Dispatch | MakeCheckpoint => "the caller is the scheduler principal",
            _ => "not used",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Operation::*;
        match self {
            Read(kind) => write!(f, "read:{kind}"),
            Ingest(kind) => write!(f, "ingest:{kind}"),
            Send(t) => write!(f, "send:{t}"),
            RecordConsent => f.write_str("record_consent"),
            RecordWithdrawal => f.write_str("record_withdrawal"),
            ViewConsent => f.write_str("view_consent"),
            Register => f.write_str("register"),
            ListOwnRegistrations => f.write_str("list_own_registrations"),
            ViewRegistration => f.write_str("view_registration"),
            Deregister => f.write_str("deregister"),
            ListPersonRegistrations => f.write_str("list_person_registrations"),
            ListAccesses => f.write_str("list_accesses"),
            ManageProgress => f.write_str("manage_progress"),
            ViewProgress => f.write_str("view_progress"),
            ListOpenApplications => f.write_str("list_open_applications"),
            ViewSubmission => f.write_str("view_submission"),
            AnswerSubmission => f.write_str("answer_submission"),
            PullInbox => f.write_str("pull_inbox"),
            Subscribe => f.write_str("subscribe"),
            ManageSubscription => f.write_str("manage_subscription"),
            Dispatch => f.write_str("dispatch"),
            FetchCheckpoints => f.write_str("fetch_checkpoints"),
            MakeCheckpoint => f.write_str("make_checkpoint"),
        }
    }
}

/// How the caller stands to the person and the thing the operation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relationship {
    /// The caller is the municipality insuring the person.
    pub insurer: bool,
    /// The caller's person token names the person (portal).
    pub token_names_person: bool,
    /// The caller's registration for the person (offices).
    pub registration: RegistrationState,
    /// The person's consent.
    pub consent: ConsentState,
    /// The thing is the caller's own ([`Operation::own_means`]).
    pub own: bool,
}

const CONSENTS: [ConsentState; 4] = [
    ConsentState::None,
    ConsentState::InForce,
    ConsentState::Withdrawn,
    ConsentState::NotObtained,
];
const REGISTRATIONS: [RegistrationState; 3] = [
    RegistrationState::None,
    RegistrationState::InForce,
    RegistrationState::Ended,
];

impl Relationship {
    /// Every relationship a principal of `role` can stand in for `op`: only
    /// a municipality insures, only the portal holds a person token, only
    /// the offices that register hold a registration, and a thing is the
    /// caller's own only where its role can have one (`can_own`).
    pub fn possible_for(op: Operation, role: Role) -> Vec<Relationship> {
        let mut out = Vec::new();
        let insurer: &[bool] = if role == Role::Municipality {
            &[false, true]
        } else {
            &[false]
        };
        let token: &[bool] = if role == Role::Portal {
            &[false, true]
        } else {
            &[false]
        };
        let registers = matches!(role, Role::CareManager | Role::CareService | Role::Medical);
        let registrations: &[RegistrationState] = if registers {
            &REGISTRATIONS
        } else {
            &[RegistrationState::None]
        };
        for &insurer in insurer {
            for &token_names_person in token {
                for &registration in registrations {
                    for consent in CONSENTS {
                        for own in [false, can_own(op, role)] {
                            out.push(Relationship {
                                insurer,
                                token_names_person,
                                registration,
                                consent,
                                own,
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

/// Whether a principal of `role` can have what "own" means for `op`
/// ([`Operation::own_means`]): an author of the kind (through ingest or,
/// for an opinion, the relay), an office holding a registration, a sender
/// of some submission, the institution an opinion was asked of, a
/// subscriber, the operator that may be the scheduler.
fn can_own(op: Operation, role: Role) -> bool {
    use Operation::*;
    let sends_opinions = relay::may_send(SubmissionType::PhysicianOpinion, role);
    match op {
        Read(kind) => {
            ingest::may_ingest(kind, role)
                || (kind == DocumentKind::PhysicianOpinion && sends_opinions)
        }
        ViewRegistration | Deregister => registration::may_register(&sample(role)),
        Send(SubmissionType::PhysicianOpinion) => sends_opinions,
        ViewSubmission | AnswerSubmission => SubmissionType::ALL
            .into_iter()
            .any(|t| relay::may_send(t, role)),
        ManageSubscription => webhooks::receiver_for(&sample(role)).is_some(),
        Dispatch | MakeCheckpoint => role == Role::Operator,
        _ => false,
    }
}

/// A sample principal of `role`: the municipality is 131016, whose persons
/// the sample person is when [`Relationship::insurer`].
fn sample(role: Role) -> Principal {
    Principal::parse_urn(match role {
        Role::Municipality => "urn:carehub:municipality:131016",
        Role::CareManager => "urn:carehub:care-manager:1371234567",
        Role::CareService => "urn:carehub:care-service:1371234568",
        Role::Medical => "urn:carehub:medical:1312345678",
        Role::Portal => "urn:carehub:portal:mynaportal",
        Role::Operator => "urn:carehub:operator:ops",
    })
    .expect("sample principals parse")
}

/// Another principal: the one that is not the caller when the thing is not
/// the caller's own.
fn someone_else() -> Principal {
    Principal::parse_urn("urn:carehub:care-manager:1379999998").expect("parses")
}

fn person(insurer: &str, insured: &str) -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse(insurer).expect("parses"),
        InsuredNumber::parse(insured).expect("parses"),
    )
}

/// Whether a principal of `role` standing in `rel` may do `op`, answered by
/// the policy functions the components call.
pub fn permits(op: Operation, role: Role, rel: &Relationship) -> bool {
    use Operation::*;
    let caller = if matches!(op, Dispatch | MakeCheckpoint) && rel.own {
        Principal::parse_urn(webhooks::SCHEDULER).expect("the scheduler URN parses")
    } else {
        sample(role)
    };
    let the_person = person(if rel.insurer { "131016" } else { "271004" }, "0000012345");
    let other_person = person("271004", "0000099999");
    let token_person = (role == Role::Portal).then(|| {
        if rel.token_names_person {
            the_person.clone()
        } else {
            other_person.clone()
        }
    });
    let registered = rel.registration == RegistrationState::InForce;
    let own_or_other = if rel.own {
        caller.clone()
    } else {
        someone_else()
    };
    let recipient = the_person.insurer_number.as_str();
    match op {
        Read(kind) => viewer_for(role).is_some_and(|viewer| {
            decide(&ReadContext {
                viewer,
                kind,
                subject_is_viewer_person: rel.token_names_person,
                subject_insured_by_viewer: rel.insurer,
                is_author: rel.own,
                consent: rel.consent,
                registration: rel.registration,
                physician_consented_to_care_planning: None,
            })
            .is_allowed()
        }),
        Ingest(kind) => {
            ingest::may_store(&caller, kind, &the_person).is_ok()
                && ingest::authorize_office_write(&caller, rel.registration).is_ok()
        }
        RecordConsent => {
            let event = ConsentEvent::Given {
                obtained_by: caller.clone(),
                given_by: Giver::Person,
                method: ConsentMethod::PaperForm,
                explanation_given: true,
                application_ref: Some("APP-1".into()),
                effective_at: "2025-04-01T00:00:00Z".into(),
            };
            let token = token_person.as_ref().map(|p| (p, PersonActor::Person));
            consent::authorize_recording(&caller, &the_person, &event, registered, token).is_ok()
        }
        RecordWithdrawal => {
            let event = ConsentEvent::Withdrawn {
                by: Giver::Person,
                through: caller.clone(),
                effective_at: "2025-04-01T00:00:00Z".into(),
            };
            let token = token_person.as_ref().map(|p| (p, PersonActor::Person));
            consent::authorize_recording(&caller, &the_person, &event, registered, token).is_ok()
        }
        ViewConsent => {
            consent::may_view_consent(&caller, &the_person, registered, token_person.as_ref())
        }
        Register | ListOwnRegistrations => registration::may_register(&caller),
        ViewRegistration => registration::may_view_registration(&caller, &own_or_other),
        Deregister => {
            registration::check_deregistration(&caller, &own_or_other, rel.registration).is_ok()
        }
        ListPersonRegistrations => {
            records::may_list_person_registrations(&caller, &the_person, token_person.as_ref())
        }
        ListAccesses => records::may_list_accesses(&caller, &the_person, token_person.as_ref()),
        ManageProgress => progress::may_manage_progress(&caller, &the_person),
        ViewProgress => progress::progress_view_decision(
            &caller,
            &the_person,
            rel.registration,
            rel.consent,
            token_person.as_ref(),
        )
        .is_allowed(),
        ListOpenApplications => progress::open_list_insurer(&caller).is_some(),
        Send(t) => {
            relay::authorize_send(t, &caller).is_ok()
                && match t {
                    SubmissionType::CarePlanRequest => {
                        relay::may_send_care_plan_request(rel.registration, rel.consent)
                    }
                    SubmissionType::PhysicianOpinion => relay::may_send_opinion(
                        &caller,
                        &the_person,
                        &the_person,
                        Some(&own_or_other),
                    ),
                }
        }
        ViewSubmission => relay::may_view_submission(&caller, &own_or_other, recipient),
        AnswerSubmission => {
            relay::authorize_answering(&caller).is_ok()
                && relay::may_answer(&caller, &own_or_other, recipient)
        }
        PullInbox => relay::inbox_of(&caller).is_some(),
        Subscribe => webhooks::authorize_subscriber(&caller).is_ok(),
        ManageSubscription => {
            webhooks::receiver_for(&caller).is_some()
                && webhooks::may_manage_subscription(&caller, &own_or_other)
        }
        Dispatch => webhooks::may_dispatch(&caller),
        FetchCheckpoints => records::may_fetch_checkpoints(&caller),
        MakeCheckpoint => records::may_make_checkpoint(&caller),
    }
}

/// One fact a condition may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atom {
    /// The caller is the municipality insuring the person.
    Insurer,
    /// The caller's person token names the person.
    Person,
    /// The caller's registration for the person is in force.
    Registered,
    /// The caller's registration for the person has not ended (in force or
    /// yet to start).
    NotEnded,
    /// The person's consent is in force.
    Consent,
    /// The thing is the caller's own.
    Own,
    /// The thing is not the caller's own.
    NotOwn,
}

impl Atom {
    const ALL: [Atom; 7] = [
        Atom::Insurer,
        Atom::Person,
        Atom::Registered,
        Atom::NotEnded,
        Atom::Consent,
        Atom::Own,
        Atom::NotOwn,
    ];

    /// The atom's name in the table.
    pub const fn name(self) -> &'static str {
        match self {
            Atom::Insurer => "insurer",
            Atom::Person => "person",
            Atom::Registered => "registered",
            Atom::NotEnded => "not_ended",
            Atom::Consent => "consent",
            Atom::Own => "own",
            Atom::NotOwn => "not_own",
        }
    }

    /// The atom in words for `op`, for documentation: a clause that reads
    /// after "when" and joins others with "and".
    pub fn words(self, op: Operation) -> String {
        match self {
            Atom::Insurer => "the caller insures the person".into(),
            Atom::Person => "the caller's person token names the person".into(),
            Atom::Registered => "the caller is registered for the person".into(),
            Atom::NotEnded => "the registration has not ended".into(),
            Atom::Consent => "the person's consent is in force".into(),
            Atom::Own => op.own_means().into(),
            Atom::NotOwn => format!("it is not the case that {}", op.own_means()),
        }
    }

    fn holds(self, rel: &Relationship) -> bool {
        match self {
            Atom::Insurer => rel.insurer,
            Atom::Person => rel.token_names_person,
            Atom::Registered => rel.registration == RegistrationState::InForce,
            Atom::NotEnded => rel.registration != RegistrationState::Ended,
            Atom::Consent => rel.consent == ConsentState::InForce,
            Atom::Own => rel.own,
            Atom::NotOwn => !rel.own,
        }
    }
}

/// When a role may do an operation: never, always, or when any of the
/// alternatives holds, each a conjunction of [`Atom`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Never.
    Never,
    /// Whatever the relationship.
    Always,
    /// When one of these holds (each: all of its atoms).
    AnyOf(Vec<Vec<Atom>>),
}

impl Condition {
    /// Whether the condition holds in `rel`.
    pub fn holds(&self, rel: &Relationship) -> bool {
        match self {
            Condition::Never => false,
            Condition::Always => true,
            Condition::AnyOf(alts) => alts.iter().any(|all| all.iter().all(|a| a.holds(rel))),
        }
    }

    /// The condition in words, for `op`: "never", "always", or "when …"
    /// with the atoms of an alternative joined by "and" and the
    /// alternatives by ", or" (no other commas, so it reads unambiguously
    /// inside a `;`-separated list).
    pub fn words(&self, op: Operation) -> String {
        match self {
            Condition::Never => "never".into(),
            Condition::Always => "always".into(),
            Condition::AnyOf(alts) => {
                let alts: Vec<String> = alts
                    .iter()
                    .map(|all| {
                        all.iter()
                            .map(|a| a.words(op))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    })
                    .collect();
                format!("when {}", alts.join(", or "))
            }
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Never => f.write_str("-"),
            Condition::Always => f.write_str("always"),
            Condition::AnyOf(alts) => {
                let text = alts
                    .iter()
                    .map(|all| all.iter().map(|a| a.name()).collect::<Vec<_>>().join("+"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                f.write_str(&text)
            }
        }
    }
}

/// Every conjunction of up to three atoms, fewest atoms first.
fn conjunctions() -> Vec<Vec<Atom>> {
    let n = Atom::ALL.len();
    let mut out: Vec<Vec<Atom>> = (0..n).map(|i| vec![Atom::ALL[i]]).collect();
    for i in 0..n {
        for j in i + 1..n {
            out.push(vec![Atom::ALL[i], Atom::ALL[j]]);
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            for k in j + 1..n {
                out.push(vec![Atom::ALL[i], Atom::ALL[j], Atom::ALL[k]]);
            }
        }
    }
    out
}

/// The simplest [`Condition`] that agrees with [`permits`] on every
/// relationship `role` can stand in: never, always, one conjunction, or two
/// alternatives. `None` if no such condition describes the rule (the
/// exhaustive test makes sure there is always one).
pub fn condition(op: Operation, role: Role) -> Option<Condition> {
    let rels = Relationship::possible_for(op, role);
    let allowed: Vec<bool> = rels.iter().map(|r| permits(op, role, r)).collect();
    let agrees = |c: &Condition| rels.iter().zip(&allowed).all(|(r, &a)| c.holds(r) == a);
    if allowed.iter().all(|a| !a) {
        return Some(Condition::Never);
    }
    if allowed.iter().all(|&a| a) {
        return Some(Condition::Always);
    }
    let conj = conjunctions();
    for c in &conj {
        let cond = Condition::AnyOf(vec![c.clone()]);
        if agrees(&cond) {
            return Some(cond);
        }
    }
    for (i, a) in conj.iter().enumerate() {
        for b in &conj[i + 1..] {
            let cond = Condition::AnyOf(vec![a.clone(), b.clone()]);
            if agrees(&cond) {
                return Some(cond);
            }
        }
    }
    None
}

/// Who may do `op`, in words, from [`condition`]: one clause per role that
/// may, e.g. "municipality (when the caller insures the person); portal
/// (when the caller's person token names the person)". For the OpenAPI
/// document.
pub fn who_may_call(op: Operation) -> String {
    let clauses: Vec<String> = Role::ALL
        .into_iter()
        .filter_map(|role| match condition(op, role)? {
            Condition::Never => None,
            Condition::Always => Some(role.as_str().to_owned()),
            c => Some(format!("{role} ({})", c.words(op))),
        })
        .collect();
    if clauses.is_empty() {
        "nobody".into()
    } else {
        clauses.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DESIGN.md (§3 rules 1–3 and 7, §4–§8) as a table, written from the
    /// text and not from the code. Cells: `-` never, `always`, else
    /// alternatives joined by ` or `, each a `+`-joined set of atoms
    /// ([`Atom::name`]). "own" per operation is [`Operation::own_means`].
    const DESIGN_TABLE: &str = "
        operation                          | municipality    | care-manager              | care-service              | medical                   | portal | operator
        read:certification_survey          | insurer         | registered+consent        | -                         | -                         | -      | -
        read:physician_opinion             | insurer         | registered+consent        | own                       | own                       | -      | -
        read:insurance_certificate         | insurer         | registered+consent        | registered+consent        | registered+consent        | person | -
        read:burden_ratio_certificate      | insurer         | registered+consent        | registered+consent        | -                         | person | -
        read:cost_limit_certificate        | insurer         | registered+consent        | registered+consent        | -                         | person | -
        read:certification_application     | insurer         | -                         | -                         | -                         | person | -
        read:life_feedback                 | insurer+consent | registered+consent        | own or registered+consent | registered+consent        | person | -
        read:care_plan                     | insurer+consent | own                       | registered+consent        | registered+consent        | person | -
        read:housing_renovation            | insurer         | registered+consent        | -                         | -                         | person | -
        read:welfare_equipment_purchase    | insurer         | registered+consent        | -                         | -                         | person | -
        ingest:certification_survey        | insurer         | -                         | -                         | -                         | -      | -
        ingest:physician_opinion           | insurer         | -                         | -                         | -                         | -      | -
        ingest:insurance_certificate       | insurer         | -                         | -                         | -                         | -      | -
        ingest:burden_ratio_certificate    | insurer         | -                         | -                         | -                         | -      | -
        ingest:cost_limit_certificate      | insurer         | -                         | -                         | -                         | -      | -
        ingest:certification_application   | insurer         | -                         | -                         | -                         | -      | -
        ingest:life_feedback               | -               | -                         | registered                | -                         | -      | -
        ingest:care_plan                   | -               | registered                | -                         | -                         | -      | -
        ingest:housing_renovation          | insurer         | -                         | -                         | -                         | -      | -
        ingest:welfare_equipment_purchase  | insurer         | -                         | -                         | -                         | -      | -
        record_consent                     | insurer         | registered                | registered                | -                         | -      | -
        record_withdrawal                  | insurer         | registered                | registered                | registered                | person | -
        view_consent                       | insurer         | registered                | registered                | registered                | person | -
        register                           | -               | always                    | always                    | always                    | -      | -
        list_own_registrations             | -               | always                    | always                    | always                    | -      | -
        view_registration                  | -               | own                       | own                       | own                       | -      | -
        deregister                         | -               | not_ended+own             | not_ended+own             | not_ended+own             | -      | -
        list_person_registrations          | insurer         | -                         | -                         | -                         | person | -
        list_accesses                      | insurer         | -                         | -                         | -                         | person | -
        manage_progress                    | insurer         | -                         | -                         | -                         | -      | -
        view_progress                      | insurer         | registered+consent        | -                         | -                         | person | -
        list_open_applications             | always          | -                         | -                         | -                         | -      | -
        send:care_plan_request             | -               | registered+consent        | -                         | -                         | -      | -
        send:physician_opinion             | -               | -                         | own                       | own                       | -      | -
        view_submission                    | insurer         | own                       | own                       | own                       | -      | -
        answer_submission                  | insurer         | -                         | -                         | -                         | -      | -
        pull_inbox                         | always          | -                         | -                         | -                         | -      | -
        subscribe                          | always          | -                         | -                         | -                         | always | -
        manage_subscription                | own             | -                         | -                         | -                         | own    | -
        dispatch                           | -               | -                         | -                         | -                         | -      | own
        fetch_checkpoints                  | always          | always                    | always                    | always                    | always | always
        make_checkpoint                    | -               | -                         | -                         | -                         | -      | own
    ";

    fn rows() -> Vec<Vec<String>> {
        DESIGN_TABLE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(|c| c.trim().to_owned()).collect())
            .collect()
    }

    fn parse_cell(cell: &str) -> Condition {
        match cell {
            "-" => Condition::Never,
            "always" => Condition::Always,
            _ => Condition::AnyOf(
                cell.split(" or ")
                    .map(|all| {
                        all.split('+')
                            .map(|name| {
                                *Atom::ALL
                                    .iter()
                                    .find(|a| a.name() == name)
                                    .unwrap_or_else(|| panic!("unknown atom {name}"))
                            })
                            .collect()
                    })
                    .collect(),
            ),
        }
    }

    /// The exhaustive test: for every operation, role and relationship the
    /// role can stand in, the policy functions agree with the design table.
    #[test]
    fn the_policy_is_the_design_table() {
        let rows = rows();
        let header = &rows[0];
        assert_eq!(header.len(), 1 + Role::ALL.len());
        for (i, role) in Role::ALL.into_iter().enumerate() {
            assert_eq!(header[1 + i], role.as_str());
        }
        let ops = Operation::all();
        assert_eq!(rows.len() - 1, ops.len(), "one row per operation");
        let mut checked = 0;
        for (row, op) in rows[1..].iter().zip(&ops) {
            assert_eq!(row[0], op.to_string(), "rows in Operation::all() order");
            for (i, role) in Role::ALL.into_iter().enumerate() {
                let expected = parse_cell(&row[1 + i]);
                for rel in Relationship::possible_for(*op, role) {
                    assert_eq!(
                        permits(*op, role, &rel),
                        expected.holds(&rel),
                        "{op} by {role} in {rel:?}: the table says {}",
                        row[1 + i]
                    );
                    checked += 1;
                }
            }
        }
        // 42 operations × every relationship each of the six roles can
        // stand in (8 to 24 each).
        assert_eq!(ops.len(), 42);
        assert!(checked > 42 * 50, "{checked}");
    }

    /// The conditions read back from the code are the table's, text for
    /// text: what the OpenAPI document says is what the table says.
    #[test]
    fn conditions_read_back_as_the_table() {
        let rows = rows();
        for (row, op) in rows[1..].iter().zip(Operation::all()) {
            for (i, role) in Role::ALL.into_iter().enumerate() {
                let c = condition(op, role).unwrap_or_else(|| panic!("{op} {role}"));
                assert_eq!(c.to_string(), row[1 + i], "{op} by {role}");
            }
        }
    }

    #[test]
    fn who_may_call_in_words() {
        assert_eq!(
            who_may_call(Operation::ViewProgress),
            "municipality (when the caller insures the person); care-manager (when the caller is registered for the person and the person's consent is in force); portal (when the caller's person token names the person)"
        );
        assert_eq!(
            condition(Operation::Read(DocumentKind::LifeFeedback), Role::CareService)
                .map(|c| c.words(Operation::Read(DocumentKind::LifeFeedback))),
            Some("when the caller authored the document, or the caller is registered for the person and the person's consent is in force".into())
        );
        assert_eq!(
            who_may_call(Operation::Dispatch),
            "operator (when the caller is the scheduler principal)"
        );
        assert_eq!(
            who_may_call(Operation::Register),
            "care-manager; care-service; medical"
        );
    }
}
