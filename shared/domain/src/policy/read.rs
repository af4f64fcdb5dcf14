//! Reads: who is reading, which facts their decision needs, and the one
//! place a [`ReadContext`] is built for [`decide`].
//!
//! The read component (and every other reader of documents) looks up the
//! facts [`facts_needed`] asks for, builds the context with
//! [`read_context`] and asks [`decide`]; it never decides by the viewer
//! itself.

use serde_json::Value;

use super::Caller;
use super::matrix::{ReadContext, Viewer, decide, viewer_for};
use crate::consent::ConsentState;
use crate::content;
use crate::kinds::DocumentKind;
use crate::principal::{PersonActor, PersonRef, Principal};
use crate::registration::RegistrationState;

/// The caller as a reader: principal, matrix column and, for the portal,
/// the person its token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The verified principal.
    pub principal: Principal,
    /// Its column in the sharing matrix.
    pub viewer: Viewer,
    /// Portal only: the person the person token names.
    pub token_person: Option<PersonRef>,
    /// Portal only: whether the token's holder is the person or a proxy
    /// (for the access log).
    pub actor: Option<PersonActor>,
    /// Portal only: the person token's `sub`, the portal user (for the
    /// access log).
    pub subject: Option<String>,
}

impl Reader {
    /// The reader for a principal; `None` for roles that read no care data
    /// (the operator).
    pub fn new(principal: Principal, token_person: Option<PersonRef>) -> Option<Reader> {
        let viewer = viewer_for(principal.role())?;
        Some(Reader {
            principal,
            viewer,
            token_person,
            actor: None,
            subject: None,
        })
    }

    /// The reader for a caller, with its person token's holder and user;
    /// `None` for roles that read no care data.
    pub fn of(caller: &Caller) -> Option<Reader> {
        Reader::new(caller.principal.clone(), caller.token_person().cloned()).map(|r| {
            r.with_actor(caller.actor())
                .with_subject(caller.subject().map(str::to_owned))
        })
    }

    /// The same reader, recording the person token's holder.
    pub fn with_actor(mut self, actor: Option<PersonActor>) -> Reader {
        self.actor = actor;
        self
    }

    /// The same reader, recording the portal user (the token's `sub`).
    pub fn with_subject(mut self, subject: Option<String>) -> Reader {
        self.subject = subject;
        self
    }
}

/// Which facts about the person a viewer's read decisions depend on, so
/// that a reader looks up only those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactsNeeded {
    /// The person's consent state.
    pub consent: bool,
    /// The viewer's registration for the person.
    pub registration: bool,
}

/// The facts `viewer`'s decisions depend on: the person reads without
/// either (they are the one who consents), the municipality needs consent
/// for ◎ kinds, offices need both.
pub const fn facts_needed(viewer: Viewer) -> FactsNeeded {
    match viewer {
        Viewer::Person => FactsNeeded {
            consent: false,
            registration: false,
        },
        Viewer::Municipality => FactsNeeded {
            consent: true,
            registration: false,
        },
        Viewer::CareManager | Viewer::CareService | Viewer::Medical => FactsNeeded {
            consent: true,
            registration: true,
        },
    }
}

/// What is known about the person relative to the reader, beyond the
/// document itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonFacts {
    /// The person's comprehensive consent.
    pub consent: ConsentState,
    /// The reader's registration as the person's responsible office.
    pub registration: RegistrationState,
}

impl PersonFacts {
    /// Nothing recorded: neither consent nor registration in force.
    pub const fn not_yet_known() -> PersonFacts {
        PersonFacts {
            consent: ConsentState::None,
            registration: RegistrationState::None,
        }
    }
}

/// The facts of one document a decision needs.
#[derive(Debug, Clone, Copy)]
pub struct DocumentFacts<'a> {
    /// Who it is about.
    pub person: &'a PersonRef,
    /// Its kind.
    pub kind: DocumentKind,
    /// Who stored it; `None` when deciding for a kind in general (no
    /// particular document, so nobody is its author).
    pub author: Option<&'a Principal>,
    /// Its content, when the kind's decision depends on it (the physician's
    /// consent box of an opinion).
    pub content: Option<&'a Value>,
}

/// Builds the [`ReadContext`] for `reader` reading a document.
pub fn read_context(reader: &Reader, facts: &PersonFacts, doc: &DocumentFacts<'_>) -> ReadContext {
    ReadContext {
        viewer: reader.viewer,
        kind: doc.kind,
        subject_is_viewer_person: reader.token_person.as_ref() == Some(doc.person),
        subject_insured_by_viewer: reader.principal.insurer_number()
            == Some(&doc.person.insurer_number),
        is_author: doc.author == Some(&reader.principal),
        consent: facts.consent,
        registration: facts.registration,
        physician_consented_to_care_planning: match doc.kind {
            DocumentKind::PhysicianOpinion => doc.content.and_then(content::physician_consent),
            _ => None,
        },
    }
}

/// The kinds `reader` may read about `person` whoever wrote them (authors
/// read their own documents on top of these). Empty means the reader may
/// not read about this person at all.
pub fn readable_kinds(
    reader: &Reader,
    facts: &PersonFacts,
    person: &PersonRef,
) -> Vec<DocumentKind> {
    DocumentKind::ALL
        .into_iter()
        .filter(|&kind| {
            let doc = DocumentFacts {
                person,
                kind,
                author: None,
                content: None,
            };
            decide(&read_context(reader, facts, &doc)).is_allowed()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InsuredNumber, InsurerNumber};

    fn person(insurer: &str, insured: &str) -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse(insurer).unwrap(),
            InsuredNumber::parse(insured).unwrap(),
        )
    }

    fn reader(urn: &str, token: Option<PersonRef>) -> Reader {
        Reader::new(Principal::parse_urn(urn).unwrap(), token).unwrap()
    }

    #[test]
    fn the_operator_reads_nothing() {
        assert!(
            Reader::new(
                Principal::parse_urn("urn:carehub:operator:ops").unwrap(),
                None
            )
            .is_none()
        );
    }

    #[test]
    fn a_reader_of_a_caller_keeps_the_token() {
        let p = person("131016", "0000012345");
        let caller = Caller::with_token(
            Principal::parse_urn("urn:carehub:portal:mynaportal").unwrap(),
            super::super::PersonToken {
                person: p.clone(),
                actor: PersonActor::Proxy,
                subject: "user-1".into(),
            },
        );
        let r = Reader::of(&caller).unwrap();
        assert_eq!(r.viewer, Viewer::Person);
        assert_eq!(r.token_person, Some(p));
        assert_eq!(r.actor, Some(PersonActor::Proxy));
        assert_eq!(r.subject.as_deref(), Some("user-1"));
    }

    /// The facts a viewer needs are exactly those its decisions can depend
    /// on: changing a fact it is not given never changes a decision.
    #[test]
    fn facts_needed_cover_every_dependency() {
        use crate::policy::matrix::decide;
        let consents = [
            ConsentState::None,
            ConsentState::InForce,
            ConsentState::Withdrawn,
            ConsentState::NotObtained,
        ];
        let registrations = [
            RegistrationState::None,
            RegistrationState::InForce,
            RegistrationState::Ended,
        ];
        for viewer in Viewer::ALL {
            let needed = facts_needed(viewer);
            for kind in DocumentKind::ALL {
                for author in [false, true] {
                    let base = ReadContext {
                        viewer,
                        kind,
                        subject_is_viewer_person: true,
                        subject_insured_by_viewer: true,
                        is_author: author,
                        consent: ConsentState::None,
                        registration: RegistrationState::None,
                        physician_consented_to_care_planning: None,
                    };
                    let mut consent_matters = false;
                    let mut registration_matters = false;
                    for c in consents {
                        for r in registrations {
                            let d = decide(&ReadContext {
                                consent: c,
                                registration: r,
                                ..base
                            });
                            let d_no_consent = decide(&ReadContext {
                                consent: ConsentState::None,
                                registration: r,
                                ..base
                            });
                            let d_no_registration = decide(&ReadContext {
                                consent: c,
                                registration: RegistrationState::None,
                                ..base
                            });
                            consent_matters |= d != d_no_consent;
                            registration_matters |= d != d_no_registration;
                        }
                    }
                    assert!(!consent_matters || needed.consent, "{viewer} {kind}");
                    assert!(
                        !registration_matters || needed.registration,
                        "{viewer} {kind}"
                    );
                }
            }
        }
    }

    #[test]
    fn readable_kinds_follow_the_matrix() {
        let p = person("131016", "0000012345");
        let facts = PersonFacts::not_yet_known();
        use DocumentKind::*;

        // The person: their column (○ ★ ◎), about themselves only.
        let me = reader("urn:carehub:portal:mynaportal", Some(p.clone()));
        assert_eq!(
            readable_kinds(&me, &facts, &p),
            [
                InsuranceCertificate,
                BurdenRatioCertificate,
                CostLimitCertificate,
                CertificationApplication,
                LifeFeedback,
                CarePlan,
                HousingRenovation,
                WelfareEquipmentPurchase
            ]
        );
        let other = reader(
            "urn:carehub:portal:mynaportal",
            Some(person("131016", "0000099999")),
        );
        assert!(readable_kinds(&other, &facts, &p).is_empty());

        // The municipality: ★ and ○ for its own insured; ◎ needs consent.
        let m = reader("urn:carehub:municipality:131016", None);
        assert_eq!(
            readable_kinds(&m, &facts, &p),
            [
                CertificationSurvey,
                PhysicianOpinion,
                InsuranceCertificate,
                BurdenRatioCertificate,
                CostLimitCertificate,
                CertificationApplication,
                HousingRenovation,
                WelfareEquipmentPurchase
            ]
        );
        let osaka = reader("urn:carehub:municipality:271004", None);
        assert!(readable_kinds(&osaka, &facts, &p).is_empty());

        // Offices: nothing without registration and consent.
        for urn in [
            "urn:carehub:care-manager:1310100019",
            "urn:carehub:care-service:1370100018",
            "urn:carehub:medical:1312345678",
        ] {
            assert!(
                readable_kinds(&reader(urn, None), &facts, &p).is_empty(),
                "{urn}"
            );
        }
    }

    #[test]
    fn authors_and_the_physician_box() {
        let p = person("131016", "0000012345");
        let facts = PersonFacts::not_yet_known();
        let cm = reader("urn:carehub:care-manager:1310100019", None);
        let plan = DocumentFacts {
            person: &p,
            kind: DocumentKind::CarePlan,
            author: Some(&cm.principal),
            content: None,
        };
        assert!(decide(&read_context(&cm, &facts, &plan)).is_allowed());
        let other = Principal::parse_urn("urn:carehub:care-manager:1310100027").unwrap();
        let plan = DocumentFacts {
            author: Some(&other),
            ..plan
        };
        assert!(!decide(&read_context(&cm, &facts, &plan)).is_allowed());

        let declined = serde_json::json!({"consent_to_care_planning": false});
        let opinion = DocumentFacts {
            person: &p,
            kind: DocumentKind::PhysicianOpinion,
            author: None,
            content: Some(&declined),
        };
        assert_eq!(
            read_context(&cm, &facts, &opinion).physician_consented_to_care_planning,
            Some(false)
        );
    }
}
