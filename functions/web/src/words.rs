//! The Japanese words the screens use for the API's codes: roles,
//! principals, access-log actions, states, care levels and document
//! fields. Pure lookups; an unknown code is shown as it is.

use carehub_domain::content::{optional_fields, required_fields};
use carehub_domain::{CareLevel, DocumentKind, Principal, Role, Stage};

/// The role's Japanese name.
pub fn role(role: Role) -> &'static str {
    match role {
        Role::Municipality => "市町村",
        Role::CareManager => "居宅介護支援事業所",
        Role::CareService => "介護サービス事業所",
        Role::Medical => "医療機関",
        Role::Portal => "マイナポータル",
        Role::Operator => "運用者",
    }
}

/// A principal as people read it: `居宅介護支援事業所 1371234567`.
pub fn principal(p: &Principal) -> String {
    format!("{} {}", role(p.role()), p.code())
}

/// A principal's URN as people read it; an unparsable one as it is.
pub fn principal_urn(urn: &str) -> String {
    Principal::parse_urn(urn).map_or_else(|_| urn.to_owned(), |p| principal(&p))
}

/// An access-log action.
pub fn action(code: &str) -> &str {
    match code {
        "read_document" => "書類の閲覧",
        "list_documents" => "書類一覧の閲覧",
        "read_history" => "書類の過去の版の閲覧",
        "read_progress" => "認定の進捗の閲覧",
        "list_progress" => "認定の進捗一覧の閲覧",
        other => other,
    }
}

/// An access-log outcome.
pub fn outcome(code: &str) -> &str {
    match code {
        "allowed" => "閲覧されました",
        "denied" => "拒否されました",
        other => other,
    }
}

/// A document kind's Japanese name from its code.
pub fn kind(code: &str) -> String {
    code.parse::<DocumentKind>()
        .map_or_else(|_| code.to_owned(), |k| k.japanese_name().to_owned())
}

/// A care level code with its name: `要介護2（22）`.
pub fn care_level(code: &str) -> String {
    code.parse::<CareLevel>().map_or_else(
        |_| code.to_owned(),
        |l| format!("{}（{}）", l.japanese_name(), l.code()),
    )
}

/// A stage code's Japanese name.
pub fn stage(code: &str) -> String {
    code.parse::<Stage>()
        .map_or_else(|_| code.to_owned(), |s| s.japanese_name().to_owned())
}

/// A registration state.
pub fn registration_state(code: &str) -> &str {
    match code {
        "in_force" => "登録中",
        "ended" => "終了",
        "none" => "開始前",
        other => other,
    }
}

/// A consent state.
pub fn consent_state(code: &str) -> &str {
    match code {
        "in_force" => "同意あり",
        "withdrawn" => "同意撤回",
        "not_obtained" => "同意なし",
        "none" => "記録なし",
        other => other,
    }
}

/// A consent event.
pub fn consent_event(code: &str) -> &str {
    match code {
        "given" => "同意",
        "withdrawn" => "同意の撤回",
        "not_obtained" => "同意を得られず",
        other => other,
    }
}

/// A submission state.
pub fn submission_state(code: &str) -> &str {
    match code {
        "accepted" => "受付済（市町村へ未配信）",
        "delivered" => "市町村へ配信済",
        "acknowledged" => "市町村が受理",
        "rejected" => "市町村が返戻",
        other => other,
    }
}

/// A submission type.
pub fn submission_type(code: &str) -> &str {
    match code {
        "care_plan_request" => "居宅サービス計画作成依頼届出",
        "physician_opinion" => "主治医意見書",
        other => other,
    }
}

/// An application type.
pub fn application_type(code: &str) -> &str {
    match code {
        "new" => "新規申請",
        "renewal" => "更新申請",
        "change" => "区分変更申請",
        other => other,
    }
}

/// The label of a document field: the Japanese term of the domain's field
/// table for top-level fields of `kind`, a short list for nested members,
/// the key itself otherwise.
pub fn field(kind: Option<DocumentKind>, key: &str) -> String {
    if let Some(kind) = kind {
        let found = required_fields(kind)
            .iter()
            .chain(optional_fields(kind))
            .find(|(k, _)| *k == key);
        if let Some((_, text)) = found {
            return text.split(" — ").next().unwrap_or(text).to_owned();
        }
    }
    match key {
        "name" => "名称・氏名",
        "office_number" => "事業所番号",
        "medical_institution_code" => "医療機関コード",
        "address" => "住所",
        "phone" => "電話番号",
        "notification_date" => "届出年月日",
        "organization" => "所属",
        "onset_date" => "発症年月日",
        "content" => "サービス内容",
        "insurance_covered" => "保険給付対象",
        "service_type" => "サービス種別",
        "provider" => "サービス提供事業者",
        "frequency" => "頻度",
        "start_date" => "開始日",
        "end_date" => "終了日",
        "need" => "生活全般の解決すべき課題（ニーズ）",
        "long_term_goal" => "長期目標",
        "long_term_goal_start_date" => "長期目標（開始）",
        "long_term_goal_end_date" => "長期目標（終了）",
        "short_term_goal" => "短期目標",
        "short_term_goal_start_date" => "短期目標（開始）",
        "short_term_goal_end_date" => "短期目標（終了）",
        "services" => "援助内容",
        "user_and_family_wishes" => "利用者及び家族の生活に対する意向",
        "overall_support_policy" => "総合的な援助の方針",
        "committee_opinion" => "介護認定審査会の意見",
        "limit_units" => "区分支給限度基準額（単位）",
        "total_units" => "合計単位数",
        "over_limit_units" => "区分支給限度基準を超える単位数",
        "person_share_yen" => "利用者負担（円）",
        "barthel_total" => "Barthel Index 合計",
        "barthel_change_from_previous" => "前回からの変化",
        "height_cm" => "身長（cm）",
        "weight_kg" => "体重（kg）",
        "bmi" => "BMI",
        "physical_function" => "身体機能・起居動作",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_japanese_and_unknown_ones_as_they_are() {
        assert_eq!(care_level("22"), "要介護2（22）");
        assert_eq!(care_level("99"), "99");
        assert_eq!(kind("burden_ratio_certificate"), "介護保険負担割合証");
        assert_eq!(stage("decided"), "認定");
        assert_eq!(
            principal_urn("urn:carehub:care-manager:1371234567"),
            "居宅介護支援事業所 1371234567"
        );
        assert_eq!(
            field(Some(DocumentKind::InsuranceCertificate), "care_level"),
            "要介護状態区分等"
        );
        assert_eq!(field(None, "zzz"), "zzz");
        assert_eq!(outcome("denied"), "拒否されました");
    }
}
