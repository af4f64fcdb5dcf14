//! Documents rendered as the forms they are: a titled sheet with the
//! form's labelled fields (the domain's field tables give the Japanese
//! terms), nested members as sub-tables, lists as tables, codes in words
//! (care level, sex, yes/no), the basic survey by group and item. Never
//! raw JSON. Every value goes through maud, which escapes it.

use carehub_domain::content::BASIC_SURVEY;
use carehub_domain::{DocumentKind, content::optional_fields, content::required_fields};
use maud::{Markup, html};
use serde_json::{Map, Value};

use crate::words;

/// One document (the read operation's JSON view of it) as its form.
pub fn document(doc: &Value) -> Markup {
    let kind_code = doc["kind"].as_str().unwrap_or_default();
    let kind = kind_code.parse::<DocumentKind>().ok();
    let content = &doc["content"];
    let title = words::kind(kind_code);
    html! {
        article class={"sheet kind-" (kind_code)} aria-labelledby={"t-" (doc["document_id"].as_str().unwrap_or_default())} {
            h3 id={"t-" (doc["document_id"].as_str().unwrap_or_default())} { (title) }
            p class="meta" {
                "第" (doc["version"]) "版 ・ 登録 " (doc["stored_at"].as_str().unwrap_or_default())
                " ・ 作成者 " (words::principal_urn(doc["author"].as_str().unwrap_or_default()))
            }
            @match content {
                Value::Object(map) => (fields(kind, &without_person(map))),
                other => p { (scalar(kind, "", other)) },
            }
        }
    }
}

/// The content without the person's numbers (the page names the person).
fn without_person(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "insurer_number" | "insured_number"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The fields of `map` in the form's order: the kind's required and
/// optional fields first (person numbers left out: the page names the
/// person), then any others.
fn fields(kind: Option<DocumentKind>, map: &Map<String, Value>) -> Markup {
    let mut order: Vec<&str> = Vec::new();
    if let Some(k) = kind {
        for (key, _) in required_fields(k).iter().chain(optional_fields(k)) {
            if map.contains_key(*key) && !order.contains(key) {
                order.push(key);
            }
        }
    }
    for key in map.keys() {
        if !order.contains(&key.as_str()) {
            order.push(key);
        }
    }
    html! {
        table class="fields" {
            tbody {
                @for key in order {
                    tr {
                        th scope="row" { (words::field(kind, key)) }
                        td { (value(kind, key, &map[key])) }
                    }
                }
            }
        }
    }
}

fn value(kind: Option<DocumentKind>, key: &str, v: &Value) -> Markup {
    match v {
        Value::Object(map) if key == "basic_survey" => survey(map),
        Value::Object(map) => fields(None, map),
        Value::Array(items) if items.is_empty() => html! { "なし" },
        Value::Array(items) if items.iter().all(Value::is_object) => table(items),
        Value::Array(items) => html! {
            @for (i, item) in items.iter().enumerate() {
                @if i > 0 { "、" }
                (scalar(kind, key, item))
            }
        },
        other => scalar(kind, key, other),
    }
}

fn scalar(_kind: Option<DocumentKind>, key: &str, v: &Value) -> Markup {
    let text = match v {
        Value::Null => "—".to_owned(),
        Value::Bool(true) => "あり".to_owned(),
        Value::Bool(false) => "なし".to_owned(),
        Value::Number(n) if key.ends_with("_units") => format!("{n} 単位"),
        Value::Number(n) if key.ends_with("_yen") => format!("{n} 円"),
        Value::Number(n) if key == "burden_ratio" => format!("{n}割"),
        Value::Number(n) => n.to_string(),
        Value::String(s) if key.ends_with("care_level") => words::care_level(s),
        Value::String(s) if key == "sex" => match s.as_str() {
            "male" => "男".to_owned(),
            "female" => "女".to_owned(),
            other => other.to_owned(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    html! { (text) }
}

/// A list of objects as a table, one column per member.
fn table(items: &[Value]) -> Markup {
    let mut columns: Vec<&str> = Vec::new();
    for item in items {
        if let Value::Object(m) = item {
            for k in m.keys() {
                if !columns.contains(&k.as_str()) {
                    columns.push(k);
                }
            }
        }
    }
    html! {
        table class="list" {
            thead { tr { @for c in &columns { th scope="col" { (words::field(None, c)) } } } }
            tbody {
                @for item in items {
                    tr { @for c in &columns { td { (value(None, c, &item[*c])) } } }
                }
            }
        }
    }
}

/// The basic survey (基本調査) by group and item, with the form's item
/// names; answers are the form's choice numbers.
fn survey(map: &Map<String, Value>) -> Markup {
    html! {
        @for group in BASIC_SURVEY {
            @if let Some(Value::Object(answers)) = map.get(group.key) {
                table class="list survey" {
                    caption { (group.japanese_name) }
                    thead { tr { th scope="col" { "項目" } th scope="col" { "調査結果（選択肢の番号）" } } }
                    tbody {
                        @for item in group.items {
                            tr {
                                th scope="row" { (item.key) ". " (item.japanese_name) }
                                td { (value(None, "", answers.get(item.key).unwrap_or(&Value::Null))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_domain::{InsuredNumber, InsurerNumber, PersonRef, content::example_content};
    use serde_json::json;

    fn doc(kind: DocumentKind, patch: Value) -> Value {
        let person = PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        );
        let mut content = example_content(kind, &person);
        if let (Value::Object(c), Value::Object(p)) = (&mut content, patch) {
            c.extend(p);
        }
        json!({"document_id": "doc_1", "kind": kind.as_str(), "version": 1,
               "stored_at": "2026-01-05T00:00:00Z", "author": "urn:carehub:municipality:131016",
               "content": content})
    }

    #[test]
    fn the_certificate_shows_care_level_validity_and_limit_in_words() {
        let html = document(&doc(DocumentKind::InsuranceCertificate, json!({}))).into_string();
        for needle in [
            "介護保険被保険者証",
            "要介護2（22）",
            "認定の有効期間（開始）",
            "2026-03-31",
            "19705 単位",
            "区分支給限度基準額",
            "男",
        ] {
            assert!(html.contains(needle), "{needle} missing: {html}");
        }
        assert!(!html.contains("\"care_level\""), "no raw JSON");
        assert!(
            !html.contains("insured_number"),
            "the page names the person"
        );
    }

    #[test]
    fn the_survey_is_shown_by_group_and_item() {
        let html = document(&doc(DocumentKind::CertificationSurvey, json!({}))).into_string();
        assert!(html.contains("第1群 身体機能・起居動作"));
        assert!(html.contains("寝返り"));
    }

    #[test]
    fn the_care_plan_and_life_feedback_are_tables_with_their_terms() {
        let html = document(&doc(DocumentKind::CarePlan, json!({}))).into_string();
        for needle in [
            "ケアプラン",
            "生活全般の解決すべき課題（ニーズ）",
            "サービス種別",
            "通所介護",
            "12450",
        ] {
            assert!(html.contains(needle), "{needle} missing: {html}");
        }
        let html = document(&doc(DocumentKind::LifeFeedback, json!({}))).into_string();
        assert!(html.contains("LIFE利用者フィードバック票"));
        assert!(html.contains("Barthel Index 合計"));
    }

    #[test]
    fn content_is_escaped() {
        let html = document(&doc(
            DocumentKind::PhysicianOpinion,
            json!({"remarks": "<script>alert(1)</script>"}),
        ))
        .into_string();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
