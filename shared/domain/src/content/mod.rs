//! What each kind of document must contain (DOCUMENT-KINDS.md), and the
//! validator ingest runs before storing one.
//!
//! The validator checks the core of each form — required fields, their
//! types, the national codes, and the rules that hold within one document —
//! not every box of every form. Fields it does not know are kept as sent, so
//! a municipality can send more than the hub checks.
//!
//! # Rules for every kind
//!
//! * The content is a JSON object.
//! * `insured_number` / `insurer_number`, when present, equal the person's
//!   (the person is named outside the content; a mismatch is a misfiled
//!   document).
//! * Anywhere in the document, a key ending in `_date` holds an ISO 8601
//!   calendar date `YYYY-MM-DD` that exists, and a key ending in `_yen` or
//!   `_units` a non-negative integer. `null` counts as absent.
//! * Periods are ordered: `validity_start_date` ≤ `validity_end_date`,
//!   `start_date` ≤ `end_date` / `completion_date`, `admission_date` ≤
//!   `discharge_date`, and the other `*_start_date`/`*_end_date` pairs.
//! * Text fields are non-blank strings.
//!
//! # Fields per kind
//!
//! [`required_fields`] and [`optional_fields`] return, per kind, each field
//! with its Japanese term and meaning; this is the list that goes into the
//! OpenAPI description. In short:
//!
//! * **insurance_certificate** 被保険者証 — `insurer_name`, `name`,
//!   `name_kana`, `birth_date`, `sex`, `address`, `issue_date`,
//!   `care_level`; for certified levels (11–25) also `certification_date`,
//!   `validity_start_date`, `validity_end_date`,
//!   `monthly_benefit_limit_units` (at least the national figure for the
//!   level). Optional: `limit_period_start_date`, `limit_period_end_date`,
//!   `committee_opinion`, `designated_service_types`,
//!   `benefit_restrictions`, `care_manager_office`, `facility`.
//! * **burden_ratio_certificate** 負担割合証 — `name`, `issue_date`,
//!   `burden_ratio` (1–3), `validity_start_date`, `validity_end_date`.
//! * **cost_limit_certificate** 負担限度額認定証 — `name`, `issue_date`,
//!   `validity_start_date`, `validity_end_date`, `food_cost_daily_limit_yen`,
//!   `housing_cost_daily_limits` (six room types, each `_yen`).
//! * **certification_application** 要介護認定申請書 — `application_type`,
//!   `application_date`, `name`, `name_kana`, `birth_date`, `sex`,
//!   `address`, `attending_physician`, `consent_to_information_sharing`;
//!   `previous_care_level` for a renewal or change of category. Optional:
//!   `phone`, `previous_validity_start_date`, `previous_validity_end_date`,
//!   `hospital_stays`, `submitted_by`.
//! * **certification_survey** 認定調査票 — `survey_date`, `surveyor`,
//!   `basic_survey` (all 74 check items of the five groups and special
//!   medical care, see [`BASIC_SURVEY`]). Optional: `survey_place`,
//!   `overview`, `special_notes`.
//! * **physician_opinion** 主治医意見書 — `opinion_date`, `physician_name`,
//!   `institution`, `consent_to_care_planning` (同意する true / 同意しない
//!   false), `diagnoses` (1–3). Optional: `stability`, `bedridden_degree`,
//!   `dementia_independence`, `course_and_treatment`,
//!   `special_medical_care`, `remarks`, `application_ref`.
//! * **life_feedback** LIFE フィードバック票 — `office_number`,
//!   `service_type_code`, `assessment_date`, `adl` (Barthel index, 10
//!   items). Optional: `nutrition`, `oral_health`, `cognition`, `feedback`.
//! * **care_plan** ケアプラン — `plan_type`, `created_date`,
//!   `plan_category`, `certification_status`, `table1`, `table2`;
//!   `care_level` once certified. Optional: `validity_start_date`,
//!   `validity_end_date`, `office_number`, `care_manager_name`, `table3`,
//!   and for home care only `table6`, `table7`.
//! * **housing_renovation** 住宅改修費 — `application_date`, `work_types`,
//!   `cost_yen`, `paid_yen` (≤ cost, ≤ 180,000), `start_date`,
//!   `completion_date`, `contractor`. The 200,000-yen lifetime limit spans
//!   documents and is not checked here.
//! * **welfare_equipment_purchase** 福祉用具購入費 — `purchase_date`,
//!   `item_type`, `item_name`, `price_yen`, `paid_yen` (≤ price, ≤ 90,000),
//!   `seller`. The 100,000-yen annual limit spans documents and is not
//!   checked here.
//!
//! # Layout
//!
//! One file per concern: `fields.rs` the field tables, `survey.rs` the basic
//! survey's catalogue, `validate.rs` the validator and [`Violation`],
//! `examples.rs` the example documents. The list above must name every field
//! of the tables; a test in `fields.rs` holds it to that.

mod examples;
mod fields;
mod survey;
mod validate;

pub use examples::example_content;
pub use fields::{optional_fields, required_fields};
pub use survey::{BASIC_SURVEY, SurveyAnswer, SurveyGroup, SurveyItem};
pub(crate) use validate::parse_date;
pub use validate::{Violation, physician_consent, validate_content};
