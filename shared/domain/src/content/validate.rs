//! The validator ingest runs before storing a document: the rules for every
//! kind, how each listed field is checked, and the rules that hold within
//! one document of each kind.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{HOUSING_COST_ROOMS, optional_fields, required_fields};
use super::survey::{BASIC_SURVEY, SurveyAnswer};
use crate::codes::{ApplicationType, CareLevel};
use crate::ids::{MedicalInstitutionCode, OfficeNumber};
use crate::kinds::DocumentKind;
use crate::principal::PersonRef;

/// One rule a document breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Violation {
    /// RFC 6901 JSON pointer to the offending value, e.g. "/care_level";
    /// "" for the whole document.
    pub pointer: String,
    /// What is wrong, in English.
    pub message: String,
}

impl Violation {
    /// A violation at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

const SEX: &[&str] = &["male", "female"];
const STABILITY: &[&str] = &["stable", "unstable", "unknown"];
const BEDRIDDEN_DEGREE: &[&str] = &[
    "independent",
    "J1",
    "J2",
    "A1",
    "A2",
    "B1",
    "B2",
    "C1",
    "C2",
];
const DEMENTIA_INDEPENDENCE: &[&str] =
    &["independent", "I", "IIa", "IIb", "IIIa", "IIIb", "IV", "M"];
const PLAN_TYPE: &[&str] = &["home", "facility"];
const PLAN_CATEGORY: &[&str] = &["first", "referred", "continuing"];
const CERTIFICATION_STATUS: &[&str] = &["certified", "pending"];
const WORK_TYPES: &[&str] = &[
    "handrails",
    "step_removal",
    "floor_material",
    "door_replacement",
    "toilet_replacement",
    "related_work",
];
const ITEM_TYPES: &[&str] = &[
    "toilet_seat",
    "automatic_excretion_parts",
    "excretion_prediction_device",
    "bathing_aid",
    "simple_bathtub",
    "lift_sling",
    "fixed_ramp",
    "walker",
    "walking_stick",
];
/// Barthel index items and the scores each admits.
const BARTHEL: &[(&str, &[u64])] = &[
    ("feeding", &[0, 5, 10]),
    ("transfers", &[0, 5, 10, 15]),
    ("grooming", &[0, 5]),
    ("toilet_use", &[0, 5, 10]),
    ("bathing", &[0, 5]),
    ("mobility", &[0, 5, 10, 15]),
    ("stairs", &[0, 5, 10]),
    ("dressing", &[0, 5, 10]),
    ("bowels", &[0, 5, 10]),
    ("bladder", &[0, 5, 10]),
];
/// The most a single renovation can pay: 90% of the 200,000-yen limit.
const HOUSING_MAX_PAID_YEN: u64 = 180_000;
/// The most a single year's purchases can pay: 90% of the 100,000-yen limit.
const EQUIPMENT_MAX_PAID_YEN: u64 = 90_000;

/// `(start, end)` keys that form a period wherever they appear together.
const PERIODS: &[(&str, &str)] = &[
    ("validity_start_date", "validity_end_date"),
    ("limit_period_start_date", "limit_period_end_date"),
    ("previous_validity_start_date", "previous_validity_end_date"),
    ("long_term_goal_start_date", "long_term_goal_end_date"),
    ("short_term_goal_start_date", "short_term_goal_end_date"),
    ("start_date", "end_date"),
    ("start_date", "completion_date"),
    ("admission_date", "discharge_date"),
];

/// How a listed top-level field is checked. Field names mean the same thing
/// in every kind, so the check depends on the name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Checked by the `_date` / `_yen` / `_units` naming convention.
    Convention,
    Text,
    Bool,
    Object,
    Array {
        min: usize,
        max: usize,
    },
    OneOf(&'static [&'static str]),
    CareLevel,
    BurdenRatio,
    OfficeNumber,
    TwoDigitCode,
}

fn field_check(name: &str) -> Option<Check> {
    if is_date_key(name) || is_amount_key(name) {
        return Some(Check::Convention);
    }
    Some(match name {
        "name"
        | "name_kana"
        | "address"
        | "phone"
        | "insurer_name"
        | "committee_opinion"
        | "survey_place"
        | "physician_name"
        | "course_and_treatment"
        | "remarks"
        | "application_ref"
        | "care_manager_name"
        | "contractor"
        | "item_name"
        | "seller" => Check::Text,
        "consent_to_information_sharing" | "consent_to_care_planning" => Check::Bool,
        "care_manager_office"
        | "facility"
        | "housing_cost_daily_limits"
        | "attending_physician"
        | "submitted_by"
        | "surveyor"
        | "basic_survey"
        | "overview"
        | "special_notes"
        | "institution"
        | "adl"
        | "nutrition"
        | "oral_health"
        | "cognition"
        | "feedback"
        | "table1"
        | "table3"
        | "table7" => Check::Object,
        "designated_service_types"
        | "benefit_restrictions"
        | "hospital_stays"
        | "special_medical_care"
        | "table6" => Check::Array {
            min: 0,
            max: usize::MAX,
        },
        "diagnoses" => Check::Array { min: 1, max: 3 },
        "table2" | "work_types" => Check::Array {
            min: 1,
            max: usize::MAX,
        },
        "sex" => Check::OneOf(SEX),
        "application_type" => Check::OneOf(&ApplicationType::NAMES),
        "stability" => Check::OneOf(STABILITY),
        "bedridden_degree" => Check::OneOf(BEDRIDDEN_DEGREE),
        "dementia_independence" => Check::OneOf(DEMENTIA_INDEPENDENCE),
        "plan_type" => Check::OneOf(PLAN_TYPE),
        "plan_category" => Check::OneOf(PLAN_CATEGORY),
        "certification_status" => Check::OneOf(CERTIFICATION_STATUS),
        "item_type" => Check::OneOf(ITEM_TYPES),
        "care_level" | "previous_care_level" => Check::CareLevel,
        "burden_ratio" => Check::BurdenRatio,
        "office_number" => Check::OfficeNumber,
        "service_type_code" => Check::TwoDigitCode,
        _ => return None,
    })
}

fn is_date_key(key: &str) -> bool {
    key.ends_with("_date")
}

fn is_amount_key(key: &str) -> bool {
    key.ends_with("_yen") || key.ends_with("_units")
}

/// Whether a required field is required for this particular document.
fn required_here(kind: DocumentKind, field: &str, doc: &Map<String, Value>) -> bool {
    let text = |k: &str| doc.get(k).and_then(Value::as_str);
    match (kind, field) {
        (
            DocumentKind::InsuranceCertificate,
            "certification_date"
            | "validity_start_date"
            | "validity_end_date"
            | "monthly_benefit_limit_units",
        ) => {
            // Only a certified level has a certification; an unreadable
            // level is reported on its own and does not excuse these.
            text("care_level")
                .and_then(|c| c.parse::<CareLevel>().ok())
                .is_none_or(CareLevel::is_certified)
        }
        (DocumentKind::CertificationApplication, "previous_care_level") => matches!(
            text("application_type").and_then(|t| t.parse::<ApplicationType>().ok()),
            Some(ApplicationType::Renewal | ApplicationType::ChangeOfCategory)
        ),
        (DocumentKind::CarePlan, "care_level") => text("certification_status") == Some("certified"),
        _ => true,
    }
}

/// Collects violations; every check appends and carries on, so a client
/// sees all problems of a document at once.
#[derive(Default)]
struct Report(Vec<Violation>);

impl Report {
    fn push(&mut self, pointer: &str, message: impl Into<String>) {
        self.0.push(Violation::new(pointer, message));
    }
}

/// `base` + "/" + `key`, escaped per RFC 6901.
fn child(base: &str, key: &str) -> String {
    let mut pointer = String::with_capacity(base.len() + key.len() + 1);
    pointer.push_str(base);
    push_segment(&mut pointer, key);
    pointer
}

/// Appends "/" + `key`, escaped per RFC 6901, to `pointer`.
fn push_segment(pointer: &mut String, key: &str) {
    pointer.push('/');
    if key.contains(['~', '/']) {
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
    } else {
        pointer.push_str(key);
    }
}

/// A calendar date `YYYY-MM-DD` that exists.
pub(crate) fn parse_date(s: &str) -> Option<time::Date> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !shaped {
        return None;
    }
    let year: i32 = s[..4].parse().ok()?;
    let month: u8 = s[5..7].parse().ok()?;
    let day: u8 = s[8..].parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

/// Validates a document's content for its kind; all violations at once.
pub fn validate_content(
    kind: DocumentKind,
    person: &PersonRef,
    content: &Value,
) -> Result<(), Vec<Violation>> {
    let Some(doc) = content.as_object() else {
        return Err(vec![Violation::new("", "content must be a JSON object")]);
    };
    let mut r = Report::default();

    for (field, expected) in [
        ("insured_number", person.insured_number.as_str()),
        ("insurer_number", person.insurer_number.as_str()),
    ] {
        match doc.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == expected => {}
            Some(Value::String(_)) => r.push(
                &child("", field),
                format!("does not match the person's {field}"),
            ),
            Some(_) => r.push(&child("", field), "must be a string"),
        }
    }

    for (field, _) in required_fields(kind) {
        if required_here(kind, field, doc) && doc.get(*field).is_none_or(Value::is_null) {
            r.push(&child("", field), "is required");
        }
    }

    for (field, _) in required_fields(kind).iter().chain(optional_fields(kind)) {
        if let Some(value) = doc.get(*field).filter(|v| !v.is_null()) {
            let check = field_check(field).expect("every listed field has a check (tested)");
            check_value(check, value, &child("", field), &mut r);
        }
    }

    conventions(content, &mut String::new(), &mut r);

    match kind {
        DocumentKind::InsuranceCertificate => insurance_certificate(doc, &mut r),
        DocumentKind::BurdenRatioCertificate => {}
        DocumentKind::CostLimitCertificate => cost_limit_certificate(doc, &mut r),
        DocumentKind::CertificationApplication => certification_application(doc, &mut r),
        DocumentKind::CertificationSurvey => certification_survey(doc, &mut r),
        DocumentKind::PhysicianOpinion => physician_opinion(doc, &mut r),
        DocumentKind::LifeFeedback => life_feedback(doc, &mut r),
        DocumentKind::CarePlan => care_plan(doc, &mut r),
        DocumentKind::HousingRenovation => {
            work_types(doc, &mut r);
            paid_within(doc, "paid_yen", "cost_yen", HOUSING_MAX_PAID_YEN, &mut r);
        }
        DocumentKind::WelfareEquipmentPurchase => {
            paid_within(doc, "paid_yen", "price_yen", EQUIPMENT_MAX_PAID_YEN, &mut r);
        }
    }

    if r.0.is_empty() { Ok(()) } else { Err(r.0) }
}

fn check_value(check: Check, value: &Value, pointer: &str, r: &mut Report) {
    match check {
        Check::Convention => {}
        Check::Text => text_value(value, pointer, r),
        Check::Bool => {
            if !value.is_boolean() {
                r.push(pointer, "must be a boolean");
            }
        }
        Check::Object => {
            if !value.is_object() {
                r.push(pointer, "must be an object");
            }
        }
        Check::Array { min, max } => match value.as_array() {
            None => r.push(pointer, "must be an array"),
            Some(a) if a.len() < min => {
                r.push(pointer, format!("must have at least {min} entries"))
            }
            Some(a) if a.len() > max => r.push(pointer, format!("must have at most {max} entries")),
            Some(_) => {}
        },
        Check::OneOf(allowed) => {
            if !value.as_str().is_some_and(|s| allowed.contains(&s)) {
                r.push(pointer, format!("must be one of: {}", allowed.join(", ")));
            }
        }
        Check::CareLevel => {
            if value
                .as_str()
                .and_then(|s| s.parse::<CareLevel>().ok())
                .is_none()
            {
                r.push(
                    pointer,
                    format!(
                        "must be a care level code, one of: {}",
                        CareLevel::NAMES.join(", ")
                    ),
                );
            }
        }
        Check::BurdenRatio => {
            if !value.as_u64().is_some_and(|n| (1..=3).contains(&n)) {
                r.push(pointer, "must be the integer 1, 2 or 3");
            }
        }
        Check::OfficeNumber => match value.as_str() {
            None => r.push(pointer, "must be a string"),
            Some(s) => {
                if let Err(e) = OfficeNumber::parse(s) {
                    r.push(pointer, e.reason);
                }
            }
        },
        Check::TwoDigitCode => {
            if !value
                .as_str()
                .is_some_and(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            {
                r.push(pointer, "must be a 2-digit code");
            }
        }
    }
}

fn text_value(value: &Value, pointer: &str, r: &mut Report) {
    if value.as_str().is_none_or(|s| s.trim().is_empty()) {
        r.push(pointer, "must be a non-blank string");
    }
}

/// The naming conventions and period order, applied at every depth.
/// `pointer` is the value's JSON pointer: one buffer for the whole walk,
/// extended and cut back per level rather than a string per node.
fn conventions(value: &Value, pointer: &mut String, r: &mut Report) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let len = pointer.len();
                push_segment(pointer, key);
                if !v.is_null() {
                    if is_date_key(key) && v.as_str().and_then(parse_date).is_none() {
                        r.push(pointer, "must be a calendar date YYYY-MM-DD");
                    } else if is_amount_key(key) && v.as_u64().is_none() {
                        r.push(pointer, "must be a non-negative integer");
                    }
                }
                conventions(v, pointer, r);
                pointer.truncate(len);
            }
            for (start, end) in PERIODS {
                let date = |k: &str| map.get(k).and_then(Value::as_str).and_then(parse_date);
                if let (Some(s), Some(e)) = (date(start), date(end))
                    && e < s
                {
                    r.push(&child(pointer, end), format!("must not be before {start}"));
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = pointer.len();
                let _ = std::fmt::Write::write_fmt(pointer, format_args!("/{i}"));
                conventions(v, pointer, r);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Checks the fields of a nested object: `required` must be non-blank text,
/// `optional_text` non-blank when present.
fn nested_text(
    obj: &Map<String, Value>,
    pointer: &str,
    required: &[&str],
    optional_text: &[&str],
    r: &mut Report,
) {
    for key in required {
        match obj.get(*key).filter(|v| !v.is_null()) {
            None => r.push(&child(pointer, key), "is required"),
            Some(v) => text_value(v, &child(pointer, key), r),
        }
    }
    for key in optional_text {
        if let Some(v) = obj.get(*key).filter(|v| !v.is_null()) {
            text_value(v, &child(pointer, key), r);
        }
    }
}

/// Runs `f` on the object at `doc[field]`, if it is one (its type was
/// reported already otherwise).
fn with_object(
    doc: &Map<String, Value>,
    field: &str,
    r: &mut Report,
    f: impl FnOnce(&Map<String, Value>, &str, &mut Report),
) {
    if let Some(obj) = doc.get(field).and_then(Value::as_object) {
        f(obj, &child("", field), r);
    }
}

/// Runs `f` on every element of the array at `doc[field]`; non-object
/// elements are reported.
fn each_object(
    doc: &Map<String, Value>,
    field: &str,
    r: &mut Report,
    mut f: impl FnMut(&Map<String, Value>, &str, &mut Report),
) {
    if let Some(items) = doc.get(field).and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            let p = child(&child("", field), &i.to_string());
            match item.as_object() {
                Some(obj) => f(obj, &p, r),
                None => r.push(&p, "must be an object"),
            }
        }
    }
}

fn each_text(doc: &Map<String, Value>, field: &str, r: &mut Report) {
    if let Some(items) = doc.get(field).and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            text_value(item, &child(&child("", field), &i.to_string()), r);
        }
    }
}

/// Checks an optional identifier inside a nested object with its parser.
fn optional_code<T>(
    obj: &Map<String, Value>,
    pointer: &str,
    key: &str,
    parse: fn(&str) -> Result<T, crate::ids::IdError>,
    r: &mut Report,
) {
    if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
        let p = child(pointer, key);
        match v.as_str() {
            None => r.push(&p, "must be a string"),
            Some(s) => {
                if let Err(e) = parse(s) {
                    r.push(&p, e.reason);
                }
            }
        }
    }
}

fn insurance_certificate(doc: &Map<String, Value>, r: &mut Report) {
    let level = doc
        .get("care_level")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<CareLevel>().ok());
    let limit = doc
        .get("monthly_benefit_limit_units")
        .and_then(Value::as_u64);
    if let (Some(level), Some(limit)) = (level, limit)
        && let Some(national) = level.national_monthly_limit_units()
        && limit < u64::from(national)
    {
        r.push(
            "/monthly_benefit_limit_units",
            format!(
                "must be at least the national limit of {national} units for {} ({}); a municipality may raise the limit, never lower it",
                level.japanese_name(),
                level.code()
            ),
        );
    }
    each_text(doc, "designated_service_types", r);
    each_object(doc, "benefit_restrictions", r, |o, p, r| {
        nested_text(o, p, &["content"], &[], r);
    });
    with_object(doc, "care_manager_office", r, |o, p, r| {
        nested_text(o, p, &["name"], &[], r);
        if o.get("office_number").is_none_or(Value::is_null) {
            r.push(&child(p, "office_number"), "is required");
        }
        optional_code(o, p, "office_number", OfficeNumber::parse, r);
    });
    with_object(doc, "facility", r, |o, p, r| {
        nested_text(o, p, &["name"], &["type"], r);
    });
}

fn cost_limit_certificate(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "housing_cost_daily_limits", r, |o, p, r| {
        for (room, _) in HOUSING_COST_ROOMS {
            // The type is checked by the `_yen` convention.
            if o.get(*room).is_none_or(Value::is_null) {
                r.push(&child(p, room), "is required");
            }
        }
    });
}

fn certification_application(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "attending_physician", r, |o, p, r| {
        nested_text(
            o,
            p,
            &["name", "institution_name"],
            &["address", "phone"],
            r,
        );
        optional_code(
            o,
            p,
            "medical_institution_code",
            MedicalInstitutionCode::parse,
            r,
        );
    });
    each_object(doc, "hospital_stays", r, |o, p, r| {
        nested_text(o, p, &["institution_name"], &[], r);
    });
    with_object(doc, "submitted_by", r, |o, p, r| {
        nested_text(o, p, &["name"], &["relationship"], r);
        optional_code(o, p, "office_number", OfficeNumber::parse, r);
    });
}

fn certification_survey(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "surveyor", r, |o, p, r| {
        nested_text(o, p, &["name"], &["organization"], r);
    });
    with_object(doc, "basic_survey", r, |survey, p, r| {
        for group in BASIC_SURVEY {
            let gp = child(p, group.key);
            let Some(answers) = survey.get(group.key).filter(|v| !v.is_null()) else {
                r.push(&gp, "is required");
                continue;
            };
            let Some(answers) = answers.as_object() else {
                r.push(&gp, "must be an object of item number to answer");
                continue;
            };
            for item in group.items {
                let ip = child(&gp, item.key);
                match answers.get(item.key) {
                    None | Some(Value::Null) => {
                        r.push(&ip, format!("is required ({})", item.japanese_name))
                    }
                    Some(v) => survey_answer(item.answer, v, &ip, r),
                }
            }
            for key in answers.keys() {
                if !group.items.iter().any(|i| i.key == key) {
                    r.push(&child(&gp, key), "is not an item of this group");
                }
            }
        }
        for key in survey.keys() {
            if !BASIC_SURVEY.iter().any(|g| g.key == key) {
                r.push(&child(p, key), "is not a group of the basic survey");
            }
        }
    });
}

fn survey_answer(answer: SurveyAnswer, v: &Value, pointer: &str, r: &mut Report) {
    let in_range = |v: &Value, n: u8| v.as_u64().is_some_and(|c| (1..=u64::from(n)).contains(&c));
    match answer {
        SurveyAnswer::Choice(n) => {
            if !in_range(v, n) {
                r.push(pointer, format!("must be a choice number 1–{n}"));
            }
        }
        SurveyAnswer::MultiChoice(n) => {
            let Some(choices) = v.as_array().filter(|a| !a.is_empty()) else {
                r.push(
                    pointer,
                    format!("must be a non-empty array of choice numbers 1–{n}"),
                );
                return;
            };
            if !choices.iter().all(|c| in_range(c, n)) {
                r.push(
                    pointer,
                    format!("must be a non-empty array of choice numbers 1–{n}"),
                );
            } else if choices.len() > 1 && choices.iter().any(|c| c.as_u64() == Some(1)) {
                r.push(
                    pointer,
                    "choice 1 (ない, none) cannot be combined with others",
                );
            } else if (1..choices.len()).any(|i| choices[..i].contains(&choices[i])) {
                r.push(pointer, "must not repeat a choice");
            }
        }
        SurveyAnswer::Flag => {
            if !v.is_boolean() {
                r.push(pointer, "must be a boolean");
            }
        }
    }
}

fn physician_opinion(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "institution", r, |o, p, r| {
        nested_text(o, p, &["name"], &["address", "phone"], r);
        optional_code(
            o,
            p,
            "medical_institution_code",
            MedicalInstitutionCode::parse,
            r,
        );
        optional_code(o, p, "office_number", OfficeNumber::parse, r);
    });
    each_object(doc, "diagnoses", r, |o, p, r| {
        nested_text(o, p, &["name"], &[], r);
    });
    each_text(doc, "special_medical_care", r);
}

fn life_feedback(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "adl", r, |adl, p, r| {
        let mut sum = Some(0u64);
        for (item, scores) in BARTHEL {
            let ip = child(p, item);
            match adl.get(*item).filter(|v| !v.is_null()) {
                None => {
                    r.push(&ip, "is required");
                    sum = None;
                }
                Some(v) => match v.as_u64().filter(|score| scores.contains(score)) {
                    Some(score) => sum = sum.map(|s| s + score),
                    None => {
                        let allowed: Vec<String> = scores.iter().map(u64::to_string).collect();
                        r.push(
                            &ip,
                            format!("must be a Barthel score, one of: {}", allowed.join(", ")),
                        );
                        sum = None;
                    }
                },
            }
        }
        if let Some(total) = adl.get("barthel_total").filter(|v| !v.is_null()) {
            match (total.as_u64(), sum) {
                (None, _) => r.push(&child(p, "barthel_total"), "must be a non-negative integer"),
                (Some(t), Some(s)) if t != s => r.push(
                    &child(p, "barthel_total"),
                    format!("must equal the sum of the items, {s}"),
                ),
                _ => {}
            }
        }
    });
    with_object(doc, "nutrition", r, |o, p, r| {
        for key in ["height_cm", "weight_kg", "bmi"] {
            if let Some(v) = o.get(key).filter(|v| !v.is_null())
                && !v.as_f64().is_some_and(|x| x > 0.0)
            {
                r.push(&child(p, key), "must be a positive number");
            }
        }
    });
}

fn care_plan(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "table1", r, |o, p, r| {
        nested_text(
            o,
            p,
            &["user_and_family_wishes", "overall_support_policy"],
            &["committee_opinion", "housework_reason"],
            r,
        );
    });
    each_object(doc, "table2", r, |need, p, r| {
        nested_text(
            need,
            p,
            &["need", "long_term_goal", "short_term_goal"],
            &[],
            r,
        );
        let sp = child(p, "services");
        match need.get("services").and_then(Value::as_array) {
            Some(services) if !services.is_empty() => {
                for (i, s) in services.iter().enumerate() {
                    let ip = child(&sp, &i.to_string());
                    let Some(s) = s.as_object() else {
                        r.push(&ip, "must be an object");
                        continue;
                    };
                    nested_text(
                        s,
                        &ip,
                        &["content"],
                        &["service_type", "provider", "frequency"],
                        r,
                    );
                    if s.get("insurance_covered")
                        .is_some_and(|v| !v.is_null() && !v.is_boolean())
                    {
                        r.push(&child(&ip, "insurance_covered"), "must be a boolean");
                    }
                }
            }
            _ => r.push(&sp, "must be a non-empty array of services"),
        }
    });
    if doc.get("plan_type").and_then(Value::as_str) == Some("facility") {
        for table in ["table6", "table7"] {
            if doc.get(table).is_some_and(|v| !v.is_null()) {
                r.push(&child("", table), "belongs to home care plans only");
            }
        }
    }
}

fn work_types(doc: &Map<String, Value>, r: &mut Report) {
    if let Some(types) = doc.get("work_types").and_then(Value::as_array) {
        for (i, t) in types.iter().enumerate() {
            let p = child("/work_types", &i.to_string());
            if !t.as_str().is_some_and(|s| WORK_TYPES.contains(&s)) {
                r.push(&p, format!("must be one of: {}", WORK_TYPES.join(", ")));
            } else if types[..i].contains(t) {
                r.push(&p, "must not repeat a kind of work");
            }
        }
    }
}

/// `paid` is at most `base` and at most `cap` (what the benefit can pay at
/// its highest rate, 90%, of its statutory limit).
fn paid_within(doc: &Map<String, Value>, paid: &str, base: &str, cap: u64, r: &mut Report) {
    let amount = |k: &str| doc.get(k).and_then(Value::as_u64);
    if let Some(p) = amount(paid) {
        if amount(base).is_some_and(|b| p > b) {
            r.push(&child("", paid), format!("must not exceed {base}"));
        }
        if p > cap {
            r.push(
                &child("", paid),
                format!("must not exceed {cap}, 90% of the statutory limit"),
            );
        }
    }
}

/// The physician's answer to "may this opinion be used for care planning"
/// (`consent_to_care_planning`), when the content carries it as a boolean.
pub fn physician_consent(content: &Value) -> Option<bool> {
    content.get("consent_to_care_planning")?.as_bool()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::examples::tests::{example, person};
    use proptest::prelude::*;
    use serde_json::json;

    /// The violations of `kind`'s example after `edit`, as (pointer, message).
    fn refusals(kind: DocumentKind, edit: impl FnOnce(&mut Value)) -> Vec<(String, String)> {
        let mut doc = example(kind);
        edit(&mut doc);
        validate_content(kind, &person(), &doc)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.pointer, v.message))
            .collect()
    }

    fn pointers(kind: DocumentKind, edit: impl FnOnce(&mut Value)) -> Vec<String> {
        refusals(kind, edit).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn every_listed_field_has_a_check_and_a_description() {
        for kind in DocumentKind::ALL {
            let mut seen = std::collections::HashSet::new();
            for (field, description) in required_fields(kind).iter().chain(optional_fields(kind)) {
                assert!(field_check(field).is_some(), "{kind}.{field} has no check");
                assert!(seen.insert(*field), "{kind}.{field} listed twice");
                assert!(
                    description.contains(" — "),
                    "{kind}.{field}: Japanese term — meaning"
                );
                assert!(
                    !description.is_ascii(),
                    "{kind}.{field}: description lacks the Japanese term"
                );
            }
        }
    }

    #[test]
    fn not_an_object() {
        for v in [json!(null), json!([]), json!("x"), json!(1)] {
            assert_eq!(
                validate_content(DocumentKind::CarePlan, &person(), &v),
                Err(vec![Violation::new("", "content must be a JSON object")])
            );
        }
    }

    #[test]
    fn identity_must_match_the_person() {
        let got = refusals(DocumentKind::BurdenRatioCertificate, |d| {
            d["insured_number"] = json!("0000999999");
            d["insurer_number"] = json!(131016);
        });
        assert_eq!(
            got,
            [
                (
                    "/insured_number".into(),
                    "does not match the person's insured_number".into()
                ),
                ("/insurer_number".into(), "must be a string".into()),
            ]
        );
        // Absent is fine: the person is named outside the content.
        assert!(
            pointers(DocumentKind::BurdenRatioCertificate, |d| {
                d.as_object_mut().unwrap().remove("insured_number");
            })
            .is_empty()
        );
    }

    #[test]
    fn insurance_certificate_refusals() {
        use DocumentKind::InsuranceCertificate as K;
        assert_eq!(
            pointers(K, |d| d["care_level"] = json!("26")),
            ["/care_level"]
        );
        assert_eq!(
            pointers(K, |d| d["care_level"] = json!(22)),
            ["/care_level"]
        );
        let got = refusals(K, |d| d["monthly_benefit_limit_units"] = json!(19704));
        assert_eq!(got.len(), 1);
        assert!(
            got[0]
                .1
                .contains("national limit of 19705 units for 要介護2"),
            "{got:?}"
        );
        // Higher than the national figure (上乗せ) is allowed.
        assert!(pointers(K, |d| d["monthly_benefit_limit_units"] = json!(21000)).is_empty());
        assert_eq!(
            pointers(K, |d| d["monthly_benefit_limit_units"] = json!(-1)),
            ["/monthly_benefit_limit_units"]
        );
        assert_eq!(
            pointers(K, |d| d["monthly_benefit_limit_units"] = json!(19705.5)),
            ["/monthly_benefit_limit_units"]
        );
        assert_eq!(
            pointers(K, |d| d["validity_end_date"] = json!("2025-03-31")),
            ["/validity_end_date"]
        );
        assert_eq!(
            pointers(K, |d| d["issue_date"] = json!("2025-02-29")),
            ["/issue_date"]
        );
        assert_eq!(
            pointers(K, |d| d["issue_date"] = json!("2025/04/01")),
            ["/issue_date"]
        );
        assert_eq!(pointers(K, |d| d["sex"] = json!("男")), ["/sex"]);
        assert_eq!(pointers(K, |d| d["name"] = json!("  ")), ["/name"]);
        assert_eq!(
            pointers(K, |d| d["care_manager_office"]["office_number"] =
                json!("13712345")),
            ["/care_manager_office/office_number"]
        );
        // 非該当: no certification, so no certification fields are required.
        assert!(
            pointers(K, |d| {
                let m = d.as_object_mut().unwrap();
                m.insert("care_level".into(), json!("01"));
                for f in [
                    "certification_date",
                    "validity_start_date",
                    "validity_end_date",
                    "monthly_benefit_limit_units",
                ] {
                    m.remove(f);
                }
            })
            .is_empty()
        );
        // But a certified level needs them.
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut().unwrap().remove("certification_date");
            }),
            ["/certification_date"]
        );
        // 11 経過的要介護 has no national figure to compare with.
        assert!(
            pointers(K, |d| {
                d["care_level"] = json!("11");
                d["monthly_benefit_limit_units"] = json!(6150);
            })
            .is_empty()
        );
    }

    #[test]
    fn every_national_limit_is_enforced() {
        for level in CareLevel::ALL {
            if let Some(limit) = level.national_monthly_limit_units() {
                let at = |units: u32| {
                    pointers(DocumentKind::InsuranceCertificate, |d| {
                        d["care_level"] = json!(level.code());
                        d["monthly_benefit_limit_units"] = json!(units);
                    })
                };
                assert!(at(limit).is_empty(), "{level}");
                assert_eq!(at(limit - 1), ["/monthly_benefit_limit_units"], "{level}");
            }
        }
    }

    #[test]
    fn certificates_refusals() {
        use DocumentKind::{BurdenRatioCertificate as B, CostLimitCertificate as C};
        for bad in [json!(0), json!(4), json!("1"), json!(1.5)] {
            assert_eq!(pointers(B, |d| d["burden_ratio"] = bad), ["/burden_ratio"]);
        }
        assert_eq!(
            pointers(B, |d| {
                d.as_object_mut().unwrap().remove("validity_end_date");
            }),
            ["/validity_end_date"]
        );
        assert_eq!(
            pointers(C, |d| {
                d["housing_cost_daily_limits"]
                    .as_object_mut()
                    .unwrap()
                    .remove("multi_bed_room_roken_yen");
                d["food_cost_daily_limit_yen"] = json!("390");
            }),
            [
                "/food_cost_daily_limit_yen",
                "/housing_cost_daily_limits/multi_bed_room_roken_yen"
            ]
        );
    }

    #[test]
    fn application_refusals() {
        use DocumentKind::CertificationApplication as K;
        assert_eq!(
            pointers(K, |d| d["application_type"] = json!("update")),
            ["/application_type"]
        );
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut().unwrap().remove("previous_care_level");
            }),
            ["/previous_care_level"]
        );
        // A new application has no previous level.
        assert!(
            pointers(K, |d| {
                d["application_type"] = json!("new");
                let m = d.as_object_mut().unwrap();
                for f in [
                    "previous_care_level",
                    "previous_validity_start_date",
                    "previous_validity_end_date",
                ] {
                    m.remove(f);
                }
            })
            .is_empty()
        );
        assert_eq!(
            pointers(K, |d| d["consent_to_information_sharing"] = json!("yes")),
            ["/consent_to_information_sharing"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["attending_physician"]
                    .as_object_mut()
                    .unwrap()
                    .remove("institution_name");
                d["attending_physician"]["medical_institution_code"] = json!("131234567８");
            }),
            [
                "/attending_physician/institution_name",
                "/attending_physician/medical_institution_code"
            ]
        );
    }

    #[test]
    fn survey_refusals() {
        use DocumentKind::CertificationSurvey as K;
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut().unwrap().remove("surveyor");
            }),
            ["/surveyor"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["basic_survey"]
                    .as_object_mut()
                    .unwrap()
                    .remove("social_adaptation");
            }),
            ["/basic_survey/social_adaptation"]
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["cognitive_function"]["2"] =
                json!(3)),
            ["/basic_survey/cognitive_function/2"]
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["physical_function"]["1"] =
                json!([1, 2])),
            ["/basic_survey/physical_function/1"]
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["physical_function"]["1"] =
                json!([])),
            ["/basic_survey/physical_function/1"]
        );
        assert!(
            pointers(K, |d| d["basic_survey"]["physical_function"]["1"] =
                json!([2, 5, 6]))
            .is_empty()
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["special_medical_care"]["3"] =
                json!(1)),
            ["/basic_survey/special_medical_care/3"]
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["daily_life_function"]["13"] =
                json!(1)),
            ["/basic_survey/daily_life_function/13"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["basic_survey"]["mental_behavioral_disorders"]
                    .as_object_mut()
                    .unwrap()
                    .remove("15");
            }),
            ["/basic_survey/mental_behavioral_disorders/15"]
        );
    }

    #[test]
    fn physician_opinion_refusals() {
        use DocumentKind::PhysicianOpinion as K;
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut()
                    .unwrap()
                    .remove("consent_to_care_planning");
            }),
            ["/consent_to_care_planning"]
        );
        assert_eq!(
            pointers(K, |d| d["consent_to_care_planning"] = json!("同意する")),
            ["/consent_to_care_planning"]
        );
        assert_eq!(pointers(K, |d| d["diagnoses"] = json!([])), ["/diagnoses"]);
        assert_eq!(
            pointers(
                K,
                |d| d["diagnoses"] =
                    json!([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}])
            ),
            ["/diagnoses"]
        );
        assert_eq!(
            pointers(K, |d| d["diagnoses"][1] =
                json!({"onset_date": "2015-13-01"})),
            ["/diagnoses/1/onset_date", "/diagnoses/1/name"]
        );
        assert_eq!(
            pointers(K, |d| d["dementia_independence"] = json!("IIc")),
            ["/dementia_independence"]
        );
        assert_eq!(
            pointers(K, |d| d["bedridden_degree"] = json!("D1")),
            ["/bedridden_degree"]
        );
        assert_eq!(
            pointers(K, |d| d["institution"]["name"] = json!("")),
            ["/institution/name"]
        );

        assert_eq!(physician_consent(&example(K)), Some(true));
        assert_eq!(
            physician_consent(&json!({"consent_to_care_planning": false})),
            Some(false)
        );
        assert_eq!(
            physician_consent(&json!({"consent_to_care_planning": "false"})),
            None
        );
        assert_eq!(physician_consent(&json!({})), None);
        assert_eq!(physician_consent(&json!([])), None);
    }

    #[test]
    fn life_feedback_refusals() {
        use DocumentKind::LifeFeedback as K;
        assert_eq!(
            pointers(K, |d| d["adl"]["grooming"] = json!(10)),
            ["/adl/grooming"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["adl"].as_object_mut().unwrap().remove("stairs");
            }),
            ["/adl/stairs"]
        );
        let got = refusals(K, |d| d["adl"]["barthel_total"] = json!(70));
        assert_eq!(
            got,
            [(
                "/adl/barthel_total".into(),
                "must equal the sum of the items, 65".into()
            )]
        );
        assert_eq!(
            pointers(K, |d| d["office_number"] = json!("1372345678 ")),
            ["/office_number"]
        );
        assert_eq!(
            pointers(K, |d| d["service_type_code"] = json!("015")),
            ["/service_type_code"]
        );
        assert_eq!(
            pointers(K, |d| d["nutrition"]["weight_kg"] = json!(0)),
            ["/nutrition/weight_kg"]
        );
    }

    #[test]
    fn care_plan_refusals() {
        use DocumentKind::CarePlan as K;
        assert_eq!(pointers(K, |d| d["table2"] = json!([])), ["/table2"]);
        assert_eq!(
            pointers(K, |d| d["table2"][0]["services"] = json!([])),
            ["/table2/0/services"]
        );
        assert_eq!(
            pointers(K, |d| d["table2"][0]["services"][0]["insurance_covered"] =
                json!("yes")),
            ["/table2/0/services/0/insurance_covered"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["table1"]
                    .as_object_mut()
                    .unwrap()
                    .remove("overall_support_policy");
            }),
            ["/table1/overall_support_policy"]
        );
        assert_eq!(
            pointers(K, |d| d["plan_type"] = json!("facility")),
            ["/table7"]
        );
        assert_eq!(
            pointers(K, |d| d["table2"][0]["short_term_goal_end_date"] =
                json!("2025-03-31")),
            ["/table2/0/short_term_goal_end_date"]
        );
        // A pending certification has no care level yet.
        assert!(
            pointers(K, |d| {
                d["certification_status"] = json!("pending");
                d.as_object_mut().unwrap().remove("care_level");
            })
            .is_empty()
        );
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut().unwrap().remove("care_level");
            }),
            ["/care_level"]
        );
    }

    #[test]
    fn housing_and_equipment_refusals() {
        use DocumentKind::{HousingRenovation as H, WelfareEquipmentPurchase as W};
        assert_eq!(
            pointers(H, |d| d["paid_yen"] = json!(180001)),
            ["/paid_yen", "/paid_yen"]
        );
        assert_eq!(
            pointers(H, |d| {
                d["cost_yen"] = json!(250000);
                d["paid_yen"] = json!(200000);
            }),
            ["/paid_yen"]
        );
        assert_eq!(
            pointers(H, |d| d["work_types"] = json!(["handrails", "roof"])),
            ["/work_types/1"]
        );
        assert_eq!(
            pointers(H, |d| d["work_types"] = json!(["handrails", "handrails"])),
            ["/work_types/1"]
        );
        assert_eq!(
            pointers(H, |d| d["completion_date"] = json!("2025-05-19")),
            ["/completion_date"]
        );
        assert_eq!(pointers(W, |d| d["paid_yen"] = json!(35001)), ["/paid_yen"]);
        assert_eq!(
            pointers(W, |d| d["item_type"] = json!("wheelchair")),
            ["/item_type"]
        );
        assert_eq!(pointers(W, |d| d["price_yen"] = json!(-5)), ["/price_yen"]);
    }

    #[test]
    fn pointers_are_escaped() {
        let got = pointers(DocumentKind::WelfareEquipmentPurchase, |d| {
            d["odd/key~x_date"] = json!("tomorrow");
        });
        assert_eq!(got, ["/odd~1key~0x_date"]);
    }

    #[test]
    fn violation_serializes_as_pointer_and_message() {
        let v = Violation::new("/care_level", "unknown");
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"pointer": "/care_level", "message": "unknown"})
        );
    }

    proptest! {
        #[test]
        fn dates_accept_every_real_day(days in 0i32..200_000) {
            let d = time::Date::from_calendar_date(1900, time::Month::January, 1).unwrap()
                + time::Duration::days(i64::from(days));
            let s = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
            prop_assert_eq!(parse_date(&s), Some(d));
        }

        #[test]
        fn dates_reject_near_misses(y in 1900i32..2100, m in 1u8..=12, d in 1u8..=28) {
            let good = format!("{y:04}-{m:02}-{d:02}");
            prop_assert!(parse_date(&good).is_some());
            assert!(parse_date(&format!("{y:04}-{m:02}-32")).is_none());
            assert!(parse_date(&format!("{y:04}-13-{d:02}")).is_none());
            assert!(parse_date(&format!("{y:04}-{m}-{d:02}")).is_none() || m >= 10);
            assert!(parse_date(&format!("{y:04}/{m:02}/{d:02}")).is_none());
            assert!(parse_date(&format!("{good} ")).is_none());
            assert!(parse_date(&format!("{good}T00:00:00Z")).is_none());
            assert!(parse_date(&format!("+{good}")).is_none());
        }

        #[test]
        fn dates_never_panic(s in "\\PC{0,12}") {
            let _ = parse_date(&s);
        }

        #[test]
        fn validator_never_panics_on_edited_examples(
            kind_index in 0usize..10,
            field_index in 0usize..12,
            replacement in prop_oneof![
                Just(json!(null)), Just(json!(true)), Just(json!(-1)), Just(json!(1.5)),
                Just(json!("")), Just(json!("x")), Just(json!([])), Just(json!({})), Just(json!([1, "a", null])),
            ],
        ) {
            let kind = DocumentKind::ALL[kind_index];
            let fields = required_fields(kind);
            let field = fields[field_index % fields.len()].0;
            let mut doc = example(kind);
            doc[field] = replacement;
            let _ = validate_content(kind, &person(), &doc);
        }
    }
}
