//! # Where every access rule is
//!
//! Every "may this principal do this to this thing" answer of the hub comes
//! from this module. A component gathers the facts the question needs (who
//! the caller is, the person's consent, the caller's registration, who
//! wrote, sent or owns the thing), asks one function here and maps the
//! verdict to HTTP. No component compares roles itself.
//!
//! | operation | rule | function |
//! |---|---|---|
//! | read a document, a person's document list | sharing matrix, consent, registration, authorship (DESIGN §3) | [`matrix::decide`], [`matrix::list_decision`] via [`read::read_context`] |
//! | which facts a read needs | the person reads without consent or registration; a municipality needs consent for ◎; offices need both | [`read::facts_needed`] |
//! | store a document (ingest) | the kind's author role; a municipality only about persons it insures; an office only while registered | [`ingest::may_store`], [`ingest::authorize_office_write`] |
//! | record consent / a withdrawal; see consent | municipality of the person; registered offices; the portal for its token's person | [`consent::authorize_recording`], [`consent::may_view_consent`] |
//! | register, deregister, see registrations | offices register themselves; only the office itself ends or sees its registration | [`registration`] |
//! | a person's records (access log, responsible offices) | the person (portal) and the municipality insuring them | [`records::is_person_or_insurer`] |
//! | manage / read certification progress | the person's municipality writes; it, the person and a registered, consented care manager read | [`progress`] |
//! | relay: send, see, answer, pull the inbox | who sends which type; sender and recipient see; only the recipient answers | [`relay`] |
//! | webhooks: subscribe, manage, dispatch | portal and municipalities subscribe; a subscription is its owner's; only the scheduler dispatches | [`webhooks`] |
//!
//! [`table`] restates all of it as one table — role × operation ×
//! relationship — that an exhaustive test checks against an independent
//! reading of DESIGN.md, and that the OpenAPI document's "who may call"
//! text is generated from.
//!
//! Verdicts come in two shapes: `bool` where the caller answers a refusal
//! with the one generic `forbidden` problem (a refusal must not reveal
//! whether the thing exists, DESIGN §3 rule 5), and `Result<(), Problem>`
//! where the refusal may say why (a role that never does this, a
//! municipality that does not insure the person named in the request).

pub mod consent;
pub mod ingest;
pub mod matrix;
pub mod progress;
pub mod read;
pub mod records;
pub mod registration;
pub mod relay;
pub mod table;
pub mod webhooks;

use crate::principal::{PersonActor, PersonRef, Principal, Role};

/// What a verified person token says: the person the portal acts for, who
/// holds the token, and the portal user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonToken {
    /// The person the token names.
    pub person: PersonRef,
    /// Whether the holder is the person or a proxy.
    pub actor: PersonActor,
    /// The token's `sub`: the portal user (for the access log).
    pub subject: String,
}

/// Who is calling: the principal the edge asserted and, for a caller that
/// speaks for a person ([`speaks_for_a_person`]), what its person token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The verified principal.
    pub principal: Principal,
    /// The verified person token, when the caller needs one and sent it.
    pub token: Option<PersonToken>,
}

impl Caller {
    /// A caller without a person token.
    pub fn new(principal: Principal) -> Caller {
        Caller {
            principal,
            token: None,
        }
    }

    /// A caller with the person token it presented.
    pub fn with_token(principal: Principal, token: PersonToken) -> Caller {
        Caller {
            principal,
            token: Some(token),
        }
    }

    /// The person the person token names.
    pub fn token_person(&self) -> Option<&PersonRef> {
        self.token.as_ref().map(|t| &t.person)
    }

    /// The person token's holder.
    pub fn actor(&self) -> Option<PersonActor> {
        self.token.as_ref().map(|t| t.actor)
    }

    /// The person token's `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.subject.as_str())
    }

    /// The person and actor of the person token.
    pub fn person_and_actor(&self) -> Option<(&PersonRef, PersonActor)> {
        self.token.as_ref().map(|t| (&t.person, t.actor))
    }
}

/// Whether a principal speaks for one person at a time and so must present a
/// person token naming them: the citizen portal. Everyone else acts in its
/// own name.
pub fn speaks_for_a_person(principal: &Principal) -> bool {
    principal.role() == Role::Portal
}
