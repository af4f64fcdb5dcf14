//! The page shell, the browser-safety headers every answer carries, and the
//! problem page: an error renders as HTML with the same status and stable
//! problem type as the API's problem+json, never a trace.

use carehub_domain::ProblemType;
use carehub_domain::problem::PROBLEM_CONTENT_TYPE;
use carehub_guest::Reply;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

/// `text/html; charset=utf-8`.
pub const HTML: &str = "text/html; charset=utf-8";

/// Scripts and styles only from the hub itself, none inline; no framing;
/// forms post only to the hub.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The header naming an error page's problem type, for clients that read
/// headers rather than the page.
pub const PROBLEM_TYPE_HEADER: &str = "carehub-problem-type";

/// Adds the headers every web answer carries. Pages are `no-store`: each
/// one shows personal data or at least who the caller is.
pub fn secured(reply: Reply) -> Reply {
    let cacheable = reply.header("cache-control").is_some();
    let reply = reply
        .with_header("content-security-policy", CSP)
        .with_header("x-frame-options", "DENY")
        .with_header("x-content-type-options", "nosniff")
        // `same-origin`, not `no-referrer`: with `no-referrer` Chrome sends
        // `Origin: null` on the hub's own form posts, which [`crate::csrf`] refuses.
        .with_header("referrer-policy", "same-origin")
        .with_header("cross-origin-opener-policy", "same-origin");
    if cacheable {
        reply
    } else {
        reply.with_header("cache-control", "no-store")
    }
}

/// Who is looking, shown in the header of every page.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// e.g. `居宅介護支援事業所 1371234567`.
    pub who: String,
    /// The navigation links: (href, label).
    pub nav: Vec<(String, &'static str)>,
}

/// A whole page.
pub fn layout(chrome: Option<&Chrome>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — carehub 介護情報基盤" }
                link rel="stylesheet" href="/web/static/app.css";
                script src="/web/static/app.js" defer {}
            }
            body {
                a class="skip" href="#main" { "本文へ移動" }
                header class="site" {
                    p class="brand" { "carehub 介護情報基盤" }
                    @if let Some(c) = chrome {
                        p class="who" { "利用者: " (c.who) }
                        nav aria-label="メニュー" {
                            ul {
                                @for (href, label) in &c.nav {
                                    li { a href=(href) { (label) } }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer class="site" {
                    p { "この画面の情報は個人情報です。目的外の利用・持ち出しはできません。" }
                }
            }
        }
    }
}

/// A page answer with `status`.
pub fn html(status: u16, markup: Markup) -> Reply {
    secured(Reply::bytes(
        status,
        HTML,
        markup.into_string().into_bytes(),
    ))
}

/// `303 See Other` to `location` (after a successful form post).
pub fn see_other(location: &str) -> Reply {
    secured(Reply::bytes(303, HTML, Vec::new()).with_header("location", location))
}

/// The Japanese heading of a problem type.
pub fn japanese_title(t: ProblemType) -> &'static str {
    match t {
        ProblemType::Forbidden => "この情報は表示できません",
        ProblemType::CrossSiteRequest => "この送信は受け付けられません",
        ProblemType::NotFound => "ページが見つかりません",
        ProblemType::MethodNotAllowed => "この操作はできません",
        ProblemType::ClientCertificateRequired
        | ProblemType::UnknownPrincipal
        | ProblemType::AssertionMissing
        | ProblemType::AssertionInvalid => "利用者を確認できません",
        ProblemType::PersonTokenMissing | ProblemType::PersonTokenInvalid => {
            "ご本人の確認が必要です"
        }
        ProblemType::RoleNotAllowed => "この立場ではこの操作はできません",
        ProblemType::OfficeNotRegistered => "担当事業所として登録されていません",
        ProblemType::Conflict | ProblemType::InvalidTransition => {
            "現在の状態ではこの操作はできません"
        }
        ProblemType::IdempotencyKeyReused => "同じ送信が別の内容で繰り返されました",
        ProblemType::Internal => "システムエラーが発生しました",
        ProblemType::Overloaded | ProblemType::DeadlineExceeded => "ただいま混み合っています",
        _ => "入力内容を確認してください",
    }
}

/// A problem as a page: same status, the stable type shown and in the
/// [`PROBLEM_TYPE_HEADER`], detail and field violations listed. Only the
/// problem's own fields are shown: a refusal reads the same whatever was
/// asked for.
pub fn problem_page(chrome: Option<&Chrome>, problem: &Value, status: u16) -> Reply {
    let type_uri = problem["type"]
        .as_str()
        .unwrap_or("urn:carehub:problem:internal");
    let slug = type_uri.rsplit(':').next().unwrap_or("internal");
    let type_ = ProblemType::from_slug(slug).unwrap_or(ProblemType::Internal);
    let title = japanese_title(type_);
    let detail = problem["detail"].as_str().unwrap_or_default();
    let violations = problem["violations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let body = html! {
        section class="problem" aria-labelledby="problem-type" {
            p id="problem-type" { "エラーの種類: " code class="problem-type" { (type_uri) } }
            p { (type_.title()) }
            @if !detail.is_empty() { p class="detail" { (detail) } }
            @if !violations.is_empty() {
                ul class="violations" {
                    @for v in &violations {
                        li { code { (v["field"].as_str().unwrap_or_default()) } " — " (v["message"].as_str().unwrap_or_default()) }
                    }
                }
            }
            @if matches!(type_, ProblemType::PersonTokenMissing | ProblemType::PersonTokenInvalid) {
                p { a href="/web/person/login" { "本人確認をやり直す" } }
            }
            p { a href="/web/" { "トップへ戻る" } }
        }
    };
    html(status, layout(chrome, title, body)).with_header(PROBLEM_TYPE_HEADER, type_uri)
}

/// Turns an operation's problem+json answer into the problem page; any
/// other answer is returned as it is.
pub fn from_reply(chrome: Option<&Chrome>, reply: Reply) -> Reply {
    if reply.header("content-type") != Some(PROBLEM_CONTENT_TYPE) {
        return reply;
    }
    let value: Value = serde_json::from_slice(&reply.body_bytes()).unwrap_or(Value::Null);
    let mut page = problem_page(chrome, &value, reply.status);
    // Keep `Allow` (405) and the like.
    for (k, v) in reply.headers {
        if k != "content-type" && page.header(&k).is_none() {
            page = page.with_header(&k, v);
        }
    }
    page
}

/// A refusal made before the component's own code ran (identity, routing),
/// as a page. The signature `component!` wants.
pub fn refused(reply: Reply) -> Reply {
    from_reply(None, reply)
}

/// Inline text that must not be escaped (only our own constant strings).
pub fn raw(s: &'static str) -> PreEscaped<&'static str> {
    PreEscaped(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_domain::Problem;

    #[test]
    fn a_problem_becomes_a_page_with_its_type_status_and_headers() {
        let reply = Reply::problem(&Problem::forbidden());
        let page = from_reply(None, reply);
        assert_eq!(page.status, 403);
        assert_eq!(page.header("content-type"), Some(HTML));
        assert_eq!(
            page.header(PROBLEM_TYPE_HEADER),
            Some("urn:carehub:problem:forbidden")
        );
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert!(
            page.header("content-security-policy")
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(
            !page
                .header("content-security-policy")
                .unwrap()
                .contains("unsafe-inline")
        );
        let text = String::from_utf8(page.body_bytes()).unwrap();
        assert!(text.contains("urn:carehub:problem:forbidden"));
        assert!(text.contains("この情報は表示できません"));
    }

    #[test]
    fn problem_text_is_escaped() {
        let v = serde_json::json!({
            "type": "urn:carehub:problem:invalid-request",
            "detail": "<script>alert(1)</script>",
        });
        let page = problem_page(None, &v, 400);
        let text = String::from_utf8(page.body_bytes()).unwrap();
        assert!(!text.contains("<script>alert"));
        assert!(text.contains("&lt;script&gt;"));
    }

    #[test]
    fn other_answers_pass_through() {
        let r = Reply::json(200, &serde_json::json!({"ok": true}));
        assert_eq!(from_reply(None, r.clone()), r);
    }
}
