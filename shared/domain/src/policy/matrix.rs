//! The sharing matrix (DESIGN §3) as data, and the one function that decides
//! every read.
//!
//! Handlers gather facts — who the viewer is, whether they authored the
//! document, the consent and registration states — into a [`ReadContext`]
//! and call [`decide`]. No handler contains a sharing rule of its own.
//!
//! The [`DenyReason`] is for the access log only. A refused read is answered
//! with the one generic `forbidden` problem whatever the reason, so that a
//! refusal does not reveal whether a document exists (DESIGN §3 rule 5).

use crate::consent::ConsentState;
use crate::kinds::DocumentKind;
use crate::macros::string_enum;
use crate::principal::Role;
use crate::registration::RegistrationState;

string_enum! {
    /// One cell of the sharing matrix.
    pub enum Mark as "mark" {
        /// ★ — the author or holder of the kind.
        Author = "author",
        /// ○ — shared today, and via the hub.
        Shared = "shared",
        /// ◎ — newly shared via the hub, with the person's consent.
        SharedWithConsent = "shared_with_consent",
        /// "★ if author" — only the author reads it (the physician's
        /// institution, or a 老健・介護医療院 that wrote the opinion).
        AuthorOnly = "author_only",
        /// – — not shared.
        Never = "never",
    }
}

impl Mark {
    /// The symbol used in the design documents.
    pub const fn symbol(self) -> &'static str {
        match self {
            Mark::Author => "★",
            Mark::Shared => "○",
            Mark::SharedWithConsent => "◎",
            Mark::AuthorOnly => "★ if author",
            Mark::Never => "–",
        }
    }
}

string_enum! {
    /// A column of the sharing matrix: who is reading.
    pub enum Viewer as "viewer" {
        /// The person, through the portal.
        Person = "person",
        /// The person's municipality.
        Municipality = "municipality",
        /// A care-manager office.
        CareManager = "care-manager",
        /// A care-service office or facility.
        CareService = "care-service",
        /// A medical institution.
        Medical = "medical",
    }
}

impl Viewer {
    /// The column index in [`SHARING_MATRIX`].
    pub const fn column(self) -> usize {
        match self {
            Viewer::Person => 0,
            Viewer::Municipality => 1,
            Viewer::CareManager => 2,
            Viewer::CareService => 3,
            Viewer::Medical => 4,
        }
    }

    /// Whether the viewer is an office (care-manager, care-service, medical),
    /// which reads only while registered and with consent.
    pub const fn is_office(self) -> bool {
        matches!(
            self,
            Viewer::CareManager | Viewer::CareService | Viewer::Medical
        )
    }
}

/// The matrix column a role reads through: the portal reads as the person;
/// the operator reads no care data at all.
pub const fn viewer_for(role: Role) -> Option<Viewer> {
    match role {
        Role::Municipality => Some(Viewer::Municipality),
        Role::CareManager => Some(Viewer::CareManager),
        Role::CareService => Some(Viewer::CareService),
        Role::Medical => Some(Viewer::Medical),
        Role::Portal => Some(Viewer::Person),
        Role::Operator => None,
    }
}

use Mark::{Author as A, AuthorOnly as AO, Never as N, Shared as S, SharedWithConsent as C};

/// The sharing matrix of DESIGN §3: per kind, one [`Mark`] per [`Viewer`] in
/// the order person, municipality, care-manager, care-service, medical.
///
/// LIFE feedback's care-service cell reads "★ author, ◎ others" in the design;
/// it is `SharedWithConsent` here because authorship needs no mark — an
/// office always reads what it authored ([`decide`]).
pub const SHARING_MATRIX: [(DocumentKind, [Mark; 5]); 10] = [
    // Columns: person, municipality, care-manager, care-service, medical.
    (DocumentKind::CertificationSurvey, [N, A, C, N, N]),
    (DocumentKind::PhysicianOpinion, [N, S, C, AO, AO]),
    (DocumentKind::InsuranceCertificate, [S, A, S, S, S]),
    (DocumentKind::BurdenRatioCertificate, [S, A, S, S, N]),
    (DocumentKind::CostLimitCertificate, [S, A, S, S, N]),
    (DocumentKind::CertificationApplication, [A, S, N, N, N]),
    (DocumentKind::LifeFeedback, [C, C, C, C, C]),
    (DocumentKind::CarePlan, [S, C, A, S, C]),
    (DocumentKind::HousingRenovation, [C, A, C, N, N]),
    (DocumentKind::WelfareEquipmentPurchase, [C, A, C, N, N]),
];

/// The matrix cell for a kind and viewer.
pub fn mark(kind: DocumentKind, viewer: Viewer) -> Mark {
    let row = SHARING_MATRIX
        .iter()
        .find(|(k, _)| *k == kind)
        .expect("every kind has a row; checked by a test");
    row.1[viewer.column()]
}

/// The facts a read decision depends on. The handler establishes each one;
/// [`decide`] applies the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadContext {
    /// Who is reading.
    pub viewer: Viewer,
    /// The kind of the document read.
    pub kind: DocumentKind,
    /// Person viewer: the person token names this very person.
    pub subject_is_viewer_person: bool,
    /// Municipality viewer: the person's insurer number is the viewer's.
    pub subject_insured_by_viewer: bool,
    /// The viewer's principal authored this document.
    pub is_author: bool,
    /// The person's consent state.
    pub consent: ConsentState,
    /// The viewer's registration for the person (offices).
    pub registration: RegistrationState,
    /// Physician opinions only: the physician's answer to "may this opinion
    /// be used for care planning" ([`crate::content::physician_consent`]).
    /// Only `Some(false)` refuses; ingest guarantees every stored opinion
    /// carries the answer, so `None` means "not an opinion".
    pub physician_consented_to_care_planning: Option<bool>,
}

string_enum! {
    /// Why a read was refused. Logged, never sent to the reader.
    pub enum DenyReason as "deny reason" {
        /// A person read about someone else.
        NotThePerson = "not_the_person",
        /// A municipality read about someone it does not insure.
        NotInsuredByMunicipality = "not_insured_by_municipality",
        /// The matrix does not mark the kind for the viewer.
        NotMarkedForRole = "not_marked_for_role",
        /// The office is not registered for the person (or not yet).
        NotRegistered = "not_registered",
        /// The office's registration ended.
        RegistrationEnded = "registration_ended",
        /// The person has not consented.
        NoConsent = "no_consent",
        /// The person withdrew consent.
        ConsentWithdrawn = "consent_withdrawn",
        /// Consent was recorded as not obtainable.
        ConsentNotObtained = "consent_not_obtained",
        /// The physician did not agree to the opinion's use for care planning.
        PhysicianDeclinedCarePlanning = "physician_declined_care_planning",
        /// The document id names no document. Never returned by [`decide`]:
        /// the read handler logs it for a document it could not find, and
        /// answers exactly as for any other refusal.
        NoSuchDocument = "no_such_document",
        /// The application id names no application. Never returned by
        /// [`decide`]: the progress handler logs it for an application it
        /// could not find, and answers exactly as for any other refusal.
        NoSuchApplication = "no_such_application",
    }
}

/// The outcome of a read decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The viewer may read the document.
    Allow,
    /// The viewer may not; the reason is for the access log only.
    Deny(DenyReason),
}

impl Decision {
    /// Whether the read is allowed.
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// The refusal reason, if refused.
    pub const fn deny_reason(self) -> Option<DenyReason> {
        match self {
            Decision::Allow => None,
            Decision::Deny(r) => Some(r),
        }
    }
}

/// Decides one read.
///
/// * **Person** reads the kinds marked ★/○/◎ in its column, about itself
///   only. No consent is needed: the person is the one who gives it.
/// * **Municipality** reads only persons it insures: ★ and ○ always, ◎ only
///   while consent is in force.
/// * **Offices** (care-manager, care-service, medical) always read what they
///   authored. Otherwise they need, in this order of reporting: a ○ or ◎
///   mark; for a care manager and a physician's opinion, the physician's
///   agreement to care-planning use; a registration in force; consent in
///   force. ○ needs consent too — via the hub, every office read does (rule 3).
///
/// When several conditions fail, the first in the order above is reported:
/// the most permanent reason first, so the access log says "not marked"
/// rather than "no consent" for a read that consent could never have allowed.
pub fn decide(ctx: &ReadContext) -> Decision {
    let cell = mark(ctx.kind, ctx.viewer);
    let outcome = match ctx.viewer {
        Viewer::Person => decide_person(ctx, cell),
        Viewer::Municipality => decide_municipality(ctx, cell),
        Viewer::CareManager | Viewer::CareService | Viewer::Medical => decide_office(ctx, cell),
    };
    match outcome {
        Ok(()) => Decision::Allow,
        Err(reason) => Decision::Deny(reason),
    }
}

/// The decision for a list of a person's documents, from the decisions for
/// each kind: allowed when any kind may be read. Otherwise refused, for the
/// first reason that is not "not marked" (the one that could change: no
/// consent, no registration, …), or "not marked" when nothing could ever be
/// read. An empty input is refused as "not marked".
pub fn list_decision(per_kind: impl IntoIterator<Item = Decision>) -> Decision {
    let mut first_reason = None;
    for decision in per_kind {
        match decision {
            Decision::Allow => return Decision::Allow,
            Decision::Deny(DenyReason::NotMarkedForRole) => {}
            Decision::Deny(reason) => {
                first_reason.get_or_insert(reason);
            }
        }
    }
    Decision::Deny(first_reason.unwrap_or(DenyReason::NotMarkedForRole))
}

fn decide_person(ctx: &ReadContext, cell: Mark) -> Result<(), DenyReason> {
    if !ctx.subject_is_viewer_person {
        return Err(DenyReason::NotThePerson);
    }
    match cell {
        Mark::Author | Mark::Shared | Mark::SharedWithConsent => Ok(()),
        Mark::AuthorOnly | Mark::Never => Err(DenyReason::NotMarkedForRole),
    }
}

fn decide_municipality(ctx: &ReadContext, cell: Mark) -> Result<(), DenyReason> {
    // No authorship override: a municipality that authored a certificate for
    // someone who has since moved away no longer reads it (rule 2).
    if !ctx.subject_insured_by_viewer {
        return Err(DenyReason::NotInsuredByMunicipality);
    }
    match cell {
        Mark::Author | Mark::Shared => Ok(()),
        Mark::SharedWithConsent => consent_in_force(ctx.consent),
        Mark::AuthorOnly if ctx.is_author => Ok(()),
        Mark::AuthorOnly | Mark::Never => Err(DenyReason::NotMarkedForRole),
    }
}

fn decide_office(ctx: &ReadContext, cell: Mark) -> Result<(), DenyReason> {
    if ctx.is_author {
        return Ok(());
    }
    match cell {
        Mark::Shared | Mark::SharedWithConsent => {}
        // ★ and "★ if author" cells are for the author, handled above; a
        // different office of the same role is not the author.
        Mark::Author | Mark::AuthorOnly | Mark::Never => return Err(DenyReason::NotMarkedForRole),
    }
    if ctx.viewer == Viewer::CareManager
        && ctx.kind == DocumentKind::PhysicianOpinion
        && ctx.physician_consented_to_care_planning == Some(false)
    {
        return Err(DenyReason::PhysicianDeclinedCarePlanning);
    }
    match ctx.registration {
        RegistrationState::InForce => {}
        RegistrationState::None => return Err(DenyReason::NotRegistered),
        RegistrationState::Ended => return Err(DenyReason::RegistrationEnded),
    }
    consent_in_force(ctx.consent)
}

pub(crate) fn consent_in_force(consent: ConsentState) -> Result<(), DenyReason> {
    match consent {
        ConsentState::InForce => Ok(()),
        ConsentState::None => Err(DenyReason::NoConsent),
        ConsentState::Withdrawn => Err(DenyReason::ConsentWithdrawn),
        ConsentState::NotObtained => Err(DenyReason::ConsentNotObtained),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DESIGN §3's table, copied as text. The test parses it independently of
    /// `SHARING_MATRIX` so that a typo in either is caught. Symbols: ★ author,
    /// ○ shared, ◎ with consent, ★a "★ if author", ★◎ "★ author, ◎ others",
    /// – never. The two certificate rows and the housing/welfare row are
    /// split into one line per kind.
    const DESIGN_TABLE: &str = "
        certification_survey        | – | ★ | ◎ | –  | –
        physician_opinion           | – | ○ | ◎ | ★a | ★a
        insurance_certificate       | ○ | ★ | ○ | ○  | ○
        burden_ratio_certificate    | ○ | ★ | ○ | ○  | –
        cost_limit_certificate      | ○ | ★ | ○ | ○  | –
        certification_application   | ★ | ○ | – | –  | –
        life_feedback               | ◎ | ◎ | ◎ | ★◎ | ◎
        care_plan                   | ○ | ◎ | ★ | ○  | ◎
        housing_renovation          | ◎ | ★ | ◎ | –  | –
        welfare_equipment_purchase  | ◎ | ★ | ◎ | –  | –
    ";

    fn design_symbol(kind: DocumentKind, viewer: Viewer) -> &'static str {
        DESIGN_TABLE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
            .find(|cells| cells[0] == kind.as_str())
            .map(|cells| cells[1 + viewer.column()])
            .unwrap()
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

    fn every_context() -> impl Iterator<Item = ReadContext> {
        let bools = [false, true];
        let physician = [None, Some(false), Some(true)];
        Viewer::ALL.into_iter().flat_map(move |viewer| {
            DocumentKind::ALL.into_iter().flat_map(move |kind| {
                CONSENTS.into_iter().flat_map(move |consent| {
                    REGISTRATIONS.into_iter().flat_map(move |registration| {
                        bools.into_iter().flat_map(move |is_author| {
                            bools.into_iter().flat_map(move |person| {
                                bools.into_iter().flat_map(move |insured| {
                                    physician.into_iter().map(move |phys| ReadContext {
                                        viewer,
                                        kind,
                                        subject_is_viewer_person: person,
                                        subject_insured_by_viewer: insured,
                                        is_author,
                                        consent,
                                        registration,
                                        physician_consented_to_care_planning: phys,
                                    })
                                })
                            })
                        })
                    })
                })
            })
        })
    }

    /// An independent restatement of DESIGN §3 rules 1–3 and 7 and the brief:
    /// list every requirement the read fails, in reporting order, and report
    /// the first. Built on the design table's symbols, not on `Mark`.
    fn oracle(c: &ReadContext) -> Decision {
        let sym = design_symbol(c.kind, c.viewer);
        let office = matches!(
            c.viewer,
            Viewer::CareManager | Viewer::CareService | Viewer::Medical
        );
        // "An author always reads what it authored."
        if office && c.is_author {
            return Decision::Allow;
        }
        let consent_reason = match c.consent {
            ConsentState::InForce => None,
            ConsentState::None => Some(DenyReason::NoConsent),
            ConsentState::Withdrawn => Some(DenyReason::ConsentWithdrawn),
            ConsentState::NotObtained => Some(DenyReason::ConsentNotObtained),
        };
        let mut failed: Vec<DenyReason> = Vec::new();
        match c.viewer {
            Viewer::Person => {
                if !c.subject_is_viewer_person {
                    failed.push(DenyReason::NotThePerson);
                }
                if !["★", "○", "◎"].contains(&sym) {
                    failed.push(DenyReason::NotMarkedForRole);
                }
            }
            Viewer::Municipality => {
                if !c.subject_insured_by_viewer {
                    failed.push(DenyReason::NotInsuredByMunicipality);
                }
                let readable = ["★", "○", "◎"].contains(&sym) || (sym == "★a" && c.is_author);
                if !readable {
                    failed.push(DenyReason::NotMarkedForRole);
                }
                if sym == "◎" {
                    failed.extend(consent_reason);
                }
            }
            _ => {
                // Non-authors read ○ and ◎ cells, and the "◎ others" half of ★◎.
                if !["○", "◎", "★◎"].contains(&sym) {
                    failed.push(DenyReason::NotMarkedForRole);
                }
                if c.viewer == Viewer::CareManager
                    && c.kind == DocumentKind::PhysicianOpinion
                    && c.physician_consented_to_care_planning == Some(false)
                {
                    failed.push(DenyReason::PhysicianDeclinedCarePlanning);
                }
                match c.registration {
                    RegistrationState::InForce => {}
                    RegistrationState::None => failed.push(DenyReason::NotRegistered),
                    RegistrationState::Ended => failed.push(DenyReason::RegistrationEnded),
                }
                failed.extend(consent_reason);
            }
        }
        failed
            .first()
            .map_or(Decision::Allow, |r| Decision::Deny(*r))
    }

    #[test]
    fn matrix_matches_the_design_table() {
        for (i, kind) in DocumentKind::ALL.into_iter().enumerate() {
            assert_eq!(SHARING_MATRIX[i].0, kind, "rows follow DocumentKind::ALL");
            for viewer in Viewer::ALL {
                let expected = match design_symbol(kind, viewer) {
                    "★" => Mark::Author,
                    "○" => Mark::Shared,
                    "◎" | "★◎" => Mark::SharedWithConsent,
                    "★a" => Mark::AuthorOnly,
                    "–" => Mark::Never,
                    other => panic!("unknown symbol {other}"),
                };
                assert_eq!(mark(kind, viewer), expected, "{kind} / {viewer}");
            }
        }
    }

    #[test]
    fn exhaustive_against_the_restated_rules() {
        let mut count = 0;
        let mut allowed = 0;
        for ctx in every_context() {
            let got = decide(&ctx);
            assert_eq!(got, oracle(&ctx), "{ctx:?}");
            count += 1;
            allowed += usize::from(got.is_allowed());

            // Invariants that must hold whatever the table says.
            if got.is_allowed() {
                match ctx.viewer {
                    Viewer::Person => assert!(ctx.subject_is_viewer_person),
                    Viewer::Municipality => assert!(ctx.subject_insured_by_viewer),
                    _ if !ctx.is_author => {
                        assert_eq!(ctx.consent, ConsentState::InForce, "{ctx:?}");
                        assert_eq!(ctx.registration, RegistrationState::InForce, "{ctx:?}");
                    }
                    _ => {}
                }
                if mark(ctx.kind, ctx.viewer) == Mark::Never {
                    assert!(ctx.is_author && ctx.viewer.is_office(), "{ctx:?}");
                }
            }
        }
        assert_eq!(count, 5 * 10 * 4 * 3 * 2 * 2 * 2 * 3);
        assert!(allowed > 0 && allowed < count);
    }

    /// A context in which an office could read anything marked for it.
    fn office(viewer: Viewer, kind: DocumentKind) -> ReadContext {
        ReadContext {
            viewer,
            kind,
            subject_is_viewer_person: false,
            subject_insured_by_viewer: false,
            is_author: false,
            consent: ConsentState::InForce,
            registration: RegistrationState::InForce,
            physician_consented_to_care_planning: None,
        }
    }

    #[test]
    fn medical_never_reads_burden_ratio_or_cost_limit_even_with_consent() {
        for kind in [
            DocumentKind::BurdenRatioCertificate,
            DocumentKind::CostLimitCertificate,
        ] {
            assert_eq!(
                decide(&office(Viewer::Medical, kind)),
                Decision::Deny(DenyReason::NotMarkedForRole)
            );
        }
        assert!(decide(&office(Viewer::Medical, DocumentKind::InsuranceCertificate)).is_allowed());
    }

    #[test]
    fn care_manager_and_physician_opinion() {
        let mut ctx = office(Viewer::CareManager, DocumentKind::PhysicianOpinion);
        ctx.physician_consented_to_care_planning = Some(true);
        assert!(decide(&ctx).is_allowed());
        ctx.physician_consented_to_care_planning = Some(false);
        assert_eq!(
            decide(&ctx),
            Decision::Deny(DenyReason::PhysicianDeclinedCarePlanning)
        );
        // The physician's refusal concerns care planning only.
        let mut muni = ctx;
        muni.viewer = Viewer::Municipality;
        muni.subject_insured_by_viewer = true;
        assert!(decide(&muni).is_allowed());
        // A 老健 that wrote the opinion reads it; another 老健 does not.
        let mut cs = office(Viewer::CareService, DocumentKind::PhysicianOpinion);
        assert_eq!(decide(&cs), Decision::Deny(DenyReason::NotMarkedForRole));
        cs.is_author = true;
        cs.consent = ConsentState::Withdrawn;
        cs.registration = RegistrationState::Ended;
        assert!(decide(&cs).is_allowed());
    }

    #[test]
    fn withdrawal_and_deregistration_stop_office_reads() {
        let mut ctx = office(Viewer::CareService, DocumentKind::CarePlan);
        assert!(decide(&ctx).is_allowed());
        ctx.consent = ConsentState::Withdrawn;
        assert_eq!(decide(&ctx), Decision::Deny(DenyReason::ConsentWithdrawn));
        ctx.consent = ConsentState::InForce;
        ctx.registration = RegistrationState::Ended;
        assert_eq!(decide(&ctx), Decision::Deny(DenyReason::RegistrationEnded));
        ctx.registration = RegistrationState::None;
        ctx.consent = ConsentState::NotObtained;
        assert_eq!(decide(&ctx), Decision::Deny(DenyReason::NotRegistered));
    }

    #[test]
    fn person_reads_own_column_without_consent() {
        let ctx = ReadContext {
            viewer: Viewer::Person,
            kind: DocumentKind::HousingRenovation,
            subject_is_viewer_person: true,
            subject_insured_by_viewer: false,
            is_author: false,
            consent: ConsentState::Withdrawn,
            registration: RegistrationState::None,
            physician_consented_to_care_planning: None,
        };
        assert!(decide(&ctx).is_allowed());
        let other = ReadContext {
            subject_is_viewer_person: false,
            ..ctx
        };
        assert_eq!(decide(&other), Decision::Deny(DenyReason::NotThePerson));
        let survey = ReadContext {
            kind: DocumentKind::CertificationSurvey,
            ..ctx
        };
        assert_eq!(
            decide(&survey),
            Decision::Deny(DenyReason::NotMarkedForRole)
        );
    }

    #[test]
    fn municipality_needs_consent_only_for_new_sharing() {
        let mut ctx = ReadContext {
            viewer: Viewer::Municipality,
            kind: DocumentKind::CarePlan,
            subject_is_viewer_person: false,
            subject_insured_by_viewer: true,
            is_author: false,
            consent: ConsentState::None,
            registration: RegistrationState::None,
            physician_consented_to_care_planning: None,
        };
        assert_eq!(decide(&ctx), Decision::Deny(DenyReason::NoConsent));
        ctx.kind = DocumentKind::InsuranceCertificate;
        assert!(decide(&ctx).is_allowed());
        ctx.subject_insured_by_viewer = false;
        ctx.is_author = true;
        assert_eq!(
            decide(&ctx),
            Decision::Deny(DenyReason::NotInsuredByMunicipality)
        );
    }

    #[test]
    fn other_care_manager_does_not_read_a_care_plan() {
        // ★ is the author's own: another care-manager office is not marked.
        let ctx = office(Viewer::CareManager, DocumentKind::CarePlan);
        assert_eq!(decide(&ctx), Decision::Deny(DenyReason::NotMarkedForRole));
        // But another care-service office reads LIFE feedback ("◎ others").
        assert!(decide(&office(Viewer::CareService, DocumentKind::LifeFeedback)).is_allowed());
    }

    #[test]
    fn viewers_for_roles() {
        assert_eq!(viewer_for(Role::Portal), Some(Viewer::Person));
        assert_eq!(viewer_for(Role::Operator), None);
        for role in Role::ALL {
            if let Some(v) = viewer_for(role)
                && role != Role::Portal
            {
                assert_eq!(v.as_str(), role.as_str());
            }
        }
    }

    #[test]
    fn deny_reason_names_match_serde() {
        for r in DenyReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.as_str().parse::<DenyReason>().unwrap(), r);
        }
    }

    #[test]
    fn list_decisions() {
        use Decision::{Allow, Deny};
        use DenyReason::*;
        assert_eq!(list_decision([]), Deny(NotMarkedForRole));
        assert_eq!(
            list_decision([Deny(NotMarkedForRole), Allow, Deny(NoConsent)]),
            Allow
        );
        assert_eq!(
            list_decision([Deny(NotMarkedForRole), Deny(NotRegistered), Deny(NoConsent)]),
            Deny(NotRegistered)
        );
        assert_eq!(
            list_decision([Deny(NotMarkedForRole), Deny(NotMarkedForRole)]),
            Deny(NotMarkedForRole)
        );
        // decide never reports a missing document: that is the handler's.
        assert!(every_context().all(|c| decide(&c) != Deny(NoSuchDocument)),);
    }
}
