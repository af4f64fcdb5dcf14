//! The screens: routes, and one function per screen. Plain Rust over the
//! store (tested natively); `crate::component` (wasm32) is the Spin entry
//! point that feeds them.
//!
//! Every screen calls the operation's own handler (`carehub_read::handler`,
//! `carehub_progress::handler`, …) with the caller the edge identified,
//! and renders its JSON answer; a handler's problem becomes the problem
//! page with the same status and type. So the rules, the access-log
//! entries and the idempotent writes are exactly the API's. Every POST is
//! checked by [`csrf::check`] before anything else.

use carehub_domain::policy::read::Reader;
use carehub_domain::{
    Caller, DocumentKind, IdempotencyKey, PersonRef, PersonToken, Principal, Problem, ProblemType,
    Role, Stage,
};
use carehub_guest::Reply;
use carehub_guest::http::RequestHead;
use carehub_guest::person_token::Verifier;
use carehub_guest::routing::{self, MAX_LIMIT, Page, Route};
use carehub_store::sql::SqlStore;
use carehub_store::{Db, RelayStore};
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::page::{self, Chrome};
use crate::{csrf, forms, logstatus, words};

/// The cookie that carries the person token (see the crate docs).
pub const PERSON_COOKIE: &str = "__Host-carehub-person";

/// The largest form body accepted.
pub const FORM_LIMIT: usize = 64 << 10;

/// `application/x-www-form-urlencoded`.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /`: to the caller's own start screen.
    Home,
    /// `GET /static/app.css`.
    Css,
    /// `GET /static/app.js`.
    Js,
    /// `GET /office/`: the persons the office is registered for.
    OfficeHome,
    /// `GET /office/register`: the registration form.
    RegisterForm,
    /// `POST /office/register`.
    Register,
    /// `POST /office/registrations/{id}/end`.
    EndRegistration,
    /// `GET /office/persons/{insurer}/{insured}`: the person's page.
    OfficePerson,
    /// `GET /office/documents/{id}[?version=N]`: one document and its versions.
    OfficeDocument,
    /// `GET /office/applications/{id}`: progress with its timeline.
    OfficeApplication,
    /// `GET /office/persons/{insurer}/{insured}/request`: the 届出 form.
    RequestForm,
    /// `POST /office/persons/{insurer}/{insured}/request`.
    SendRequest,
    /// `GET /municipality/`: open applications by stage.
    MunicipalityHome,
    /// `GET /municipality/inbox`.
    Inbox,
    /// `POST /municipality/submissions/{id}/acknowledge`.
    Acknowledge,
    /// `POST /municipality/submissions/{id}/reject`.
    Reject,
    /// `GET /municipality/consent[?insured_number=]`: a person's consent history.
    MunicipalityConsent,
    /// `GET /person/`: the person's page.
    PersonHome,
    /// `GET /person/login`: the form that takes the person token.
    LoginForm,
    /// `POST /person/login`: sets the person cookie.
    Login,
    /// `POST /person/logout`.
    Logout,
    /// `GET /person/withdraw`: the confirmation step.
    WithdrawConfirm,
    /// `POST /person/withdraw`.
    Withdraw,
    /// `GET /person/applications/{id}`.
    PersonApplication,
    /// `GET /person/accesses`: who read what, with the log's status.
    Accesses,
}

macro_rules! routes {
    ($( $method:literal $pattern:literal => $endpoint:ident ),+ $(,)?) => {
        &[ $( Route { method: $method, pattern: $pattern, endpoint: Endpoint::$endpoint } ),+ ]
    };
}

/// The component's routes (after the `/web` prefix).
pub const ROUTES: &[Route<Endpoint>] = routes![
    "GET" "/" => Home,
    "GET" "/static/app.css" => Css,
    "GET" "/static/app.js" => Js,
    "GET" "/office/" => OfficeHome,
    "GET" "/office/register" => RegisterForm,
    "POST" "/office/register" => Register,
    "POST" "/office/registrations/{registration_id}/end" => EndRegistration,
    "GET" "/office/persons/{insurer_number}/{insured_number}" => OfficePerson,
    "GET" "/office/documents/{document_id}" => OfficeDocument,
    "GET" "/office/applications/{application_id}" => OfficeApplication,
    "GET" "/office/persons/{insurer_number}/{insured_number}/request" => RequestForm,
    "POST" "/office/persons/{insurer_number}/{insured_number}/request" => SendRequest,
    "GET" "/municipality/" => MunicipalityHome,
    "GET" "/municipality/inbox" => Inbox,
    "POST" "/municipality/submissions/{submission_id}/acknowledge" => Acknowledge,
    "POST" "/municipality/submissions/{submission_id}/reject" => Reject,
    "GET" "/municipality/consent" => MunicipalityConsent,
    "GET" "/person/" => PersonHome,
    "GET" "/person/login" => LoginForm,
    "POST" "/person/login" => Login,
    "POST" "/person/logout" => Logout,
    "GET" "/person/withdraw" => WithdrawConfirm,
    "POST" "/person/withdraw" => Withdraw,
    "GET" "/person/applications/{application_id}" => PersonApplication,
    "GET" "/person/accesses" => Accesses,
];

/// The stylesheet (served by the hub: no CDN).
pub const APP_CSS: &str = include_str!("../static/app.css");
/// The one small script (print buttons); the pages work without it.
pub const APP_JS: &str = include_str!("../static/app.js");

/// A static asset, when `endpoint` is one: cacheable, no personal data.
pub fn asset(endpoint: Endpoint) -> Option<Reply> {
    let (ct, body) = match endpoint {
        Endpoint::Css => ("text/css; charset=utf-8", APP_CSS),
        Endpoint::Js => ("text/javascript; charset=utf-8", APP_JS),
        _ => return None,
    };
    Some(page::secured(
        Reply::bytes(200, ct, body.as_bytes().to_vec())
            .with_header("cache-control", "private, max-age=300"),
    ))
}

/// The keys the screens need, read from Spin variables per request.
pub struct Keys {
    /// `web_csrf_key`.
    pub csrf: Vec<u8>,
    /// The person-token verifier (`person_token_public_key`, `…_issuer`).
    pub person: Verifier,
}

/// One request, as the component read it.
pub struct Request<'a> {
    /// Method, path-info, query, headers.
    pub head: &'a RequestHead,
    /// Who is calling (the edge's verified assertion).
    pub principal: Principal,
    /// The matched route.
    pub endpoint: Endpoint,
    /// The route's `{…}` segments.
    pub params: Vec<&'a str>,
    /// The decoded form fields of a POST (empty for a GET).
    pub form: Vec<(String, String)>,
    /// Now, RFC 3339 (for the handlers).
    pub now: String,
    /// Now, Unix seconds (for tokens).
    pub unix: u64,
}

impl Request<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.field(name).unwrap_or_default().trim().to_owned()
    }

    fn query(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.head.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn person_param(&self) -> Result<PersonRef, Reply> {
        routing::person_from_path(self.params[0], self.params[1])
    }
}

/// Decodes a form body.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Answers one screen request.
pub fn serve<D: Db>(store: &SqlStore<D>, keys: &Keys, req: &Request<'_>) -> Reply {
    let chrome = chrome(&req.principal);
    let result = (|| -> Result<Reply, Reply> {
        if req.head.method.eq_ignore_ascii_case("POST") {
            csrf::check(
                &keys.csrf,
                &req.principal,
                req.head,
                req.field(csrf::FIELD),
                req.unix,
            )
            .map_err(|p| Reply::problem(&p))?;
        }
        let role = req.principal.role();
        let office = matches!(role, Role::CareManager | Role::CareService | Role::Medical);
        use Endpoint as E;
        match req.endpoint {
            E::Home => Ok(page::see_other(match role {
                Role::Municipality => "/web/municipality/",
                Role::Portal => "/web/person/",
                _ => "/web/office/",
            })),
            E::Css | E::Js => Ok(asset(req.endpoint).expect("an asset")),
            E::OfficeHome
            | E::RegisterForm
            | E::Register
            | E::EndRegistration
            | E::OfficePerson
            | E::OfficeDocument
            | E::OfficeApplication
            | E::RequestForm
            | E::SendRequest
                if !office =>
            {
                Err(wrong_role())
            }
            E::MunicipalityHome
            | E::Inbox
            | E::Acknowledge
            | E::Reject
            | E::MunicipalityConsent
                if role != Role::Municipality =>
            {
                Err(wrong_role())
            }
            E::PersonHome
            | E::LoginForm
            | E::Login
            | E::Logout
            | E::WithdrawConfirm
            | E::Withdraw
            | E::PersonApplication
            | E::Accesses
                if role != Role::Portal =>
            {
                Err(wrong_role())
            }
            E::OfficeHome => office_home(store, keys, req, &chrome),
            E::RegisterForm => Ok(register_form(keys, req, &chrome)),
            E::Register => register(store, req),
            E::EndRegistration => end_registration(store, req),
            E::OfficePerson => office_person(store, req, &chrome),
            E::OfficeDocument => office_document(store, req, &chrome),
            E::OfficeApplication => application(
                store,
                req,
                &Caller::new(req.principal.clone()),
                &chrome,
                "/web/office/",
            ),
            E::RequestForm => request_form(keys, req, &chrome),
            E::SendRequest => send_request(store, req),
            E::MunicipalityHome => municipality_home(store, req, &chrome),
            E::Inbox => inbox(store, keys, req, &chrome),
            E::Acknowledge | E::Reject => answer(store, req),
            E::MunicipalityConsent => municipality_consent(store, req, &chrome),
            E::LoginForm => Ok(login_form(keys, req, &chrome, None)),
            E::Login => login(keys, req, &chrome),
            E::Logout => Ok(page::see_other("/web/person/login").with_header(
                "set-cookie",
                format!("{PERSON_COOKIE}=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
            )),
            E::PersonHome
            | E::WithdrawConfirm
            | E::Withdraw
            | E::PersonApplication
            | E::Accesses => {
                let Some(caller) = person_caller(keys, req)? else {
                    return Ok(page::see_other("/web/person/login"));
                };
                match req.endpoint {
                    E::PersonHome => person_home(store, keys, req, &caller, &chrome),
                    E::WithdrawConfirm => Ok(withdraw_confirm(keys, req, &chrome)),
                    E::Withdraw => withdraw(store, req, &caller),
                    E::PersonApplication => {
                        application(store, req, &caller, &chrome, "/web/person/")
                    }
                    _ => accesses(store, &caller, &chrome),
                }
            }
        }
    })();
    result.unwrap_or_else(|reply| page::from_reply(Some(&chrome), reply))
}

fn wrong_role() -> Reply {
    Reply::problem(&Problem::new(
        ProblemType::RoleNotAllowed,
        "This screen is not for the role the client certificate names.",
    ))
}

/// The header every page shows: who is looking, and the role's menu.
pub fn chrome(principal: &Principal) -> Chrome {
    let nav = match principal.role() {
        Role::Municipality => vec![
            ("/web/municipality/".to_owned(), "認定申請の進捗"),
            ("/web/municipality/inbox".to_owned(), "届出の受信箱"),
            ("/web/municipality/consent".to_owned(), "同意の履歴"),
        ],
        Role::Portal => vec![
            ("/web/person/".to_owned(), "わたしの情報"),
            ("/web/person/accesses".to_owned(), "閲覧の記録"),
        ],
        Role::CareManager | Role::CareService | Role::Medical => vec![
            ("/web/office/".to_owned(), "担当利用者一覧"),
            ("/web/office/register".to_owned(), "担当事業所の登録"),
        ],
        Role::Operator => Vec::new(),
    };
    Chrome {
        who: words::principal(principal),
        nav,
    }
}

/// A handler's 2xx answer as JSON; any other answer is the error.
fn ok_json(reply: Reply) -> Result<Value, Reply> {
    if (200..300).contains(&reply.status) {
        serde_json::from_slice(&reply.body_bytes())
            .map_err(|e| carehub_guest::problem::internal("web: reading a handler's answer", &e))
    } else {
        Err(reply)
    }
}

/// The head a handler call sees: the API's method and path (so an
/// idempotency record reads like the API's), no headers.
fn api_head(method: &str, path: &str) -> RequestHead {
    RequestHead::new(method, path, "", Vec::new())
}

fn csrf_field(keys: &Keys, req: &Request<'_>) -> Markup {
    let token = csrf::token(&keys.csrf, &req.principal, req.unix);
    html! { input type="hidden" name=(csrf::FIELD) value=(token); }
}

/// A fresh idempotency key for a form (`web-` and 32 hex digits from the
/// clock's nanoseconds and the CSRF token), carried in a hidden field so
/// that sending the same form twice stores one write.
fn form_key(keys: &Keys, req: &Request<'_>) -> String {
    use sha2::{Digest, Sha256};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let token = csrf::token(&keys.csrf, &req.principal, req.unix);
    let digest = Sha256::digest(format!("{nanos}/{token}").as_bytes());
    format!("web-{}", hex::encode(&digest[..16]))
}

fn idempotency_key(req: &Request<'_>) -> Result<Option<IdempotencyKey>, Reply> {
    match req.field("form_key") {
        None | Some("") => Ok(None),
        Some(k) => IdempotencyKey::parse(k)
            .map(Some)
            .map_err(|e| Reply::problem_of(ProblemType::InvalidRequest, format!("form_key: {e}"))),
    }
}

fn person_path(p: &PersonRef) -> String {
    format!(
        "{}/{}",
        p.insurer_number.as_str(),
        p.insured_number.as_str()
    )
}

fn person_of(v: &Value) -> String {
    format!(
        "{} / {}",
        v["insurer_number"].as_str().unwrap_or_default(),
        v["insured_number"].as_str().unwrap_or_default()
    )
}

fn ok_page(chrome: &Chrome, title: &str, body: Markup) -> Reply {
    page::html(200, page::layout(Some(chrome), title, body))
}

// ---------------------------------------------------------------- office

fn office_home<D: Db>(
    store: &SqlStore<D>,
    keys: &Keys,
    req: &Request<'_>,
    chrome: &Chrome,
) -> Result<Reply, Reply> {
    let page = Page {
        limit: MAX_LIMIT,
        before_seq: None,
    };
    let v = ok_json(carehub_office_register::handler::office_registrations(
        store,
        &req.principal,
        page,
        &req.now,
    ))?;
    let regs = v["registrations"].as_array().cloned().unwrap_or_default();
    let body = html! {
        p { a class="button" href="/web/office/register" { "利用者を登録する" } }
        @if regs.is_empty() {
            p { "担当している利用者はまだいません。" }
        } @else {
            table class="list" {
                caption { "担当事業所として登録している利用者" }
                thead { tr {
                    th scope="col" { "保険者番号 / 被保険者番号" }
                    th scope="col" { "状態" }
                    th scope="col" { "開始" }
                    th scope="col" { "終了" }
                    th scope="col" { "本人確認" }
                    th scope="col" { "操作" }
                } }
                tbody {
                    @for r in &regs {
                        @let state = r["state"].as_str().unwrap_or_default();
                        @let person = &r["person"];
                        tr {
                            td { a href={"/web/office/persons/" (person["insurer_number"].as_str().unwrap_or_default()) "/" (person["insured_number"].as_str().unwrap_or_default())} { (person_of(person)) } }
                            td { (words::registration_state(state)) }
                            td { (r["start"].as_str().unwrap_or_default()) }
                            td { (r["end"].as_str().unwrap_or("—")) }
                            td { (r["verification_reference"].as_str().unwrap_or_default()) }
                            td {
                                @if state != "ended" {
                                    form method="post" action={"/web/office/registrations/" (r["registration_id"].as_str().unwrap_or_default()) "/end"} class="inline" {
                                        (csrf_field(keys, req))
                                        label { "終了の理由 " input type="text" name="reason" required value="契約終了"; }
                                        button type="submit" { "登録を終了する" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ok_page(chrome, "担当利用者一覧", body))
}

fn register_form(keys: &Keys, req: &Request<'_>, chrome: &Chrome) -> Reply {
    let insurer = req.query("insurer_number").unwrap_or_default();
    let insured = req.query("insured_number").unwrap_or_default();
    let body = html! {
        p { "本人確認を行ったうえで、担当事業所として登録します。登録の間、同意の範囲で利用者の情報を閲覧できます。" }
        form method="post" action="/web/office/register" class="stack" {
            (csrf_field(keys, req))
            input type="hidden" name="form_key" value=(form_key(keys, req));
            fieldset {
                legend { "利用者" }
                label for="insurer_number" { "保険者番号（6桁）" }
                input id="insurer_number" name="insurer_number" inputmode="numeric" required value=(insurer) autocomplete="off";
                label for="insured_number" { "被保険者番号（10桁）" }
                input id="insured_number" name="insured_number" inputmode="numeric" required value=(insured) autocomplete="off";
            }
            fieldset {
                legend { "本人確認" }
                label for="verification_method" { "確認の方法" }
                select id="verification_method" name="verification_method" {
                    option value="my_number_card" { "マイナンバーカード（資格確認端末で照合）" }
                    option value="other" { "その他（下に内容を記入）" }
                }
                label for="verification_description" { "その他の方法の内容" }
                input id="verification_description" name="verification_description";
                label for="verification_reference" { "確認の記録（照合番号など）" }
                input id="verification_reference" name="verification_reference" required;
            }
            fieldset {
                legend { "担当の期間" }
                label for="start" { "開始日" }
                input id="start" name="start" type="date" required;
                label for="end" { "終了日（任意）" }
                input id="end" name="end" type="date";
            }
            button type="submit" { "登録する" }
        }
    };
    ok_page(chrome, "担当事業所の登録", body)
}

/// A date field as the API's timestamp: the day's start (or end) in JST.
fn day(date: &str, end: bool) -> String {
    if date.len() == 10 {
        format!("{date}T{}+09:00", if end { "23:59:59" } else { "00:00:00" })
    } else {
        date.to_owned()
    }
}

fn register<D: Db>(store: &SqlStore<D>, req: &Request<'_>) -> Result<Reply, Reply> {
    let method = match req.field("verification_method") {
        Some("other") => {
            json!({"type": "other", "description": req.text("verification_description")})
        }
        _ => json!({"type": "my_number_card"}),
    };
    let mut body = json!({
        "person": {"insurer_number": req.text("insurer_number"), "insured_number": req.text("insured_number")},
        "verification_method": method,
        "verification_reference": req.text("verification_reference"),
        "start": day(&req.text("start"), false),
    });
    let end = req.text("end");
    if !end.is_empty() {
        body["end"] = json!(day(&end, true));
    }
    let key = idempotency_key(req)?;
    let v = ok_json(carehub_office_register::handler::register(
        store,
        &req.principal,
        &api_head("POST", "/registrations"),
        key.as_ref(),
        body.to_string().as_bytes(),
        &req.now,
    ))?;
    let p = &v["person"];
    Ok(page::see_other(&format!(
        "/web/office/persons/{}/{}",
        p["insurer_number"].as_str().unwrap_or_default(),
        p["insured_number"].as_str().unwrap_or_default()
    )))
}

fn end_registration<D: Db>(store: &SqlStore<D>, req: &Request<'_>) -> Result<Reply, Reply> {
    let id = carehub_office_register::handler::registration_id_from_path(req.params[0])?;
    let body = json!({"reason": req.text("reason")});
    ok_json(carehub_office_register::handler::deregister(
        store,
        &req.principal,
        &id,
        &api_head(
            "POST",
            &format!("/registrations/{}/deregister", id.as_str()),
        ),
        None,
        body.to_string().as_bytes(),
        &req.now,
    ))?;
    Ok(page::see_other("/web/office/"))
}

/// The reader for an office or the portal.
fn reader(caller: &Caller) -> Result<Reader, Reply> {
    Reader::of(caller).ok_or_else(|| Reply::problem(&Problem::forbidden()))
}

/// The documents `caller` may read about `person`, through the read
/// operation (logged there). The kinds it may not read are not in the
/// answer, so they are not on the page.
fn documents<D: Db>(
    store: &SqlStore<D>,
    caller: &Caller,
    person: &PersonRef,
    now: &str,
) -> Result<Vec<Value>, Reply> {
    let params = carehub_read::handler::ListParams {
        kind: None,
        limit: MAX_LIMIT,
        before_seq: None,
    };
    let v = ok_json(carehub_read::handler::list(
        store,
        &reader(caller)?,
        person,
        &params,
        now,
    ))?;
    Ok(v["documents"].as_array().cloned().unwrap_or_default())
}

/// The documents in the forms' order (certificates first), each as its form.
fn document_section(docs: &[Value], detail_base: Option<&str>) -> Markup {
    let order = |d: &Value| {
        let k = d["kind"].as_str().unwrap_or_default();
        DocumentKind::ALL
            .iter()
            .position(|x| x.as_str() == k)
            .unwrap_or(usize::MAX)
    };
    let mut docs: Vec<&Value> = docs.iter().collect();
    docs.sort_by_key(|d| match d["kind"].as_str().unwrap_or_default() {
        "insurance_certificate" => 0,
        "burden_ratio_certificate" => 1,
        "cost_limit_certificate" => 2,
        _ => order(d).saturating_add(3),
    });
    html! {
        @if docs.is_empty() {
            p { "表示できる書類はありません。" }
        }
        @for d in docs {
            (forms::document(d))
            @if let Some(base) = detail_base {
                p class="more" {
                    a href={(base) (d["document_id"].as_str().unwrap_or_default())} {
                        (words::kind(d["kind"].as_str().unwrap_or_default())) "の詳細・過去の版"
                    }
                }
            }
        }
    }
}

fn office_person<D: Db>(
    store: &SqlStore<D>,
    req: &Request<'_>,
    chrome: &Chrome,
) -> Result<Reply, Reply> {
    let person = req.person_param()?;
    let caller = Caller::new(req.principal.clone());
    let docs = documents(store, &caller, &person, &req.now)?;
    let care_manager = req.principal.role() == Role::CareManager;
    // Progress and submissions are the care manager's (DESIGN §6, §7): for
    // other offices they are not asked for, so not shown.
    let progress = if care_manager {
        Some(ok_json(carehub_progress::handler::person_list(
            store,
            &caller,
            person.insurer_number.as_str(),
            person.insured_number.as_str(),
            "limit=50",
            &req.now,
        )))
    } else {
        None
    };
    let sent = if care_manager {
        let rows = store
            .sent_submissions(&req.principal, &person, 50)
            .map_err(|e| carehub_guest::problem::internal("web: sent submissions", &e))?;
        let mut shown = Vec::new();
        for r in rows {
            shown.push(ok_json(carehub_relay::handler::show(
                store,
                &req.principal,
                r.submission.submission_id.as_str(),
            ))?);
        }
        Some(shown)
    } else {
        None
    };
    let body = html! {
        p class="person" { "保険者番号 " (person.insurer_number.as_str()) " ・ 被保険者番号 " (person.insured_number.as_str()) }
        p class="noprint" { button type="button" data-print { "この画面を印刷する" } }
        section aria-labelledby="docs" {
            h2 id="docs" { "書類" }
            (document_section(&docs, Some("/web/office/documents/")))
        }
        @if let Some(progress) = &progress {
            section aria-labelledby="progress" {
                h2 id="progress" { "要介護認定の進捗" }
                @match progress {
                    Ok(v) => (applications(v, "/web/office/applications/")),
                    Err(r) => (inline_problem(r)),
                }
            }
        }
        @if let Some(sent) = &sent {
            section aria-labelledby="sent" {
                h2 id="sent" { "居宅サービス計画作成依頼届出" }
                p { a class="button" href={"/web/office/persons/" (person_path(&person)) "/request"} { "届出を作成する" } }
                (submissions(sent))
            }
        }
    };
    Ok(ok_page(chrome, "利用者の情報", body))
}

fn inline_problem(reply: &Reply) -> Markup {
    let v: Value = serde_json::from_slice(&reply.body_bytes()).unwrap_or(Value::Null);
    html! {
        p class="problem" { "表示できません（" code { (v["type"].as_str().unwrap_or_default()) } "）" }
    }
}

fn applications(v: &Value, base: &str) -> Markup {
    let items = v["items"].as_array().cloned().unwrap_or_default();
    html! {
        @if items.is_empty() {
            p { "認定の申請はありません。" }
        } @else {
            table class="list" {
                thead { tr {
                    th scope="col" { "申請" }
                    th scope="col" { "種類" }
                    th scope="col" { "現在の段階" }
                    th scope="col" { "受付" }
                    th scope="col" { "更新" }
                } }
                tbody {
                    @for a in &items {
                        tr {
                            td { a href={(base) (a["application_id"].as_str().unwrap_or_default())} { (a["application_id"].as_str().unwrap_or_default()) } }
                            td { (words::application_type(a["application_type"].as_str().unwrap_or_default())) }
                            td class="stage" { (a["stage_name"].as_str().unwrap_or_default()) }
                            td { (a["received_at"].as_str().unwrap_or_default()) }
                            td { (a["updated_at"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

fn submissions(items: &[Value]) -> Markup {
    html! {
        @if items.is_empty() {
            p { "送信した届出はありません。" }
        } @else {
            table class="list" {
                caption { "送信した届出" }
                thead { tr {
                    th scope="col" { "届出" }
                    th scope="col" { "状態" }
                    th scope="col" { "受付番号・返戻理由" }
                    th scope="col" { "送信" }
                    th scope="col" { "回答" }
                } }
                tbody {
                    @for s in items {
                        tr {
                            td { (words::submission_type(s["type"].as_str().unwrap_or_default())) " " small { (s["submission_id"].as_str().unwrap_or_default()) } }
                            td class="state" { (words::submission_state(s["state"].as_str().unwrap_or_default())) }
                            td class="receipt" { (s["receipt_number"].as_str().or(s["reason"].as_str()).unwrap_or("—")) }
                            td { (s["accepted_at"].as_str().unwrap_or_default()) }
                            td { (s["answered_at"].as_str().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    }
}

fn office_document<D: Db>(
    store: &SqlStore<D>,
    req: &Request<'_>,
    chrome: &Chrome,
) -> Result<Reply, Reply> {
    let id = carehub_read::handler::document_id_from_path(req.params[0])?;
    let head = RequestHead::new("GET", "", req.head.query.clone(), Vec::new());
    let version = carehub_read::handler::version_param(&head)?;
    let caller = Caller::new(req.principal.clone());
    let v = ok_json(carehub_read::handler::one(
        store,
        &reader(&caller)?,
        &id,
        version,
        &req.now,
    ))?;
    let versions = v["versions"].as_array().cloned().unwrap_or_default();
    let person = &v["person"];
    let body = html! {
        p class="person" { a href={"/web/office/persons/" (person["insurer_number"].as_str().unwrap_or_default()) "/" (person["insured_number"].as_str().unwrap_or_default())} { "利用者の情報へ戻る" } }
        p class="noprint" { button type="button" data-print { "この書類を印刷する" } }
        @if v["version"] != v["current_version"] {
            p class="notice" { "これは過去の版（第" (v["version"]) "版）です。現在の版は第" (v["current_version"]) "版です。" }
        }
        (forms::document(&v))
        section aria-labelledby="versions" {
            h2 id="versions" { "版の履歴" }
            ol class="versions" {
                @for ver in &versions {
                    li {
                        @if ver["version"] == v["version"] {
                            "第" (ver["version"]) "版（表示中） ・ " (ver["stored_at"].as_str().unwrap_or_default())
                        } @else {
                            a href={"/web/office/documents/" (id.as_str()) "?version=" (ver["version"])} { "第" (ver["version"]) "版" }
                            " ・ " (ver["stored_at"].as_str().unwrap_or_default())
                        }
                    }
                }
            }
        }
    };
    Ok(ok_page(
        chrome,
        &words::kind(v["kind"].as_str().unwrap_or_default()),
        body,
    ))
}

/// An application's progress and timeline (for the office and the person).
fn application<D: Db>(
    store: &SqlStore<D>,
    req: &Request<'_>,
    caller: &Caller,
    chrome: &Chrome,
    back: &str,
) -> Result<Reply, Reply> {
    let v = ok_json(carehub_progress::handler::show(
        store,
        caller,
        req.params[0],
        &req.now,
    ))?;
    let timeline = v["timeline"].as_array().cloned().unwrap_or_default();
    let body = html! {
        p { a href=(back) { "戻る" } }
        dl class="summary" {
            dt { "申請の種類" } dd { (words::application_type(v["application_type"].as_str().unwrap_or_default())) }
            dt { "現在の段階" } dd class="stage" { (v["stage_name"].as_str().unwrap_or_default()) }
            dt { "認定調査" } dd { (match v["survey"].as_str() { Some("done") => "実施済", Some("scheduled") => "日程決定", _ => "未定" }) }
            dt { "主治医意見書" } dd { (match v["opinion"].as_str() { Some("received") => "受領済", Some("requested") => "依頼済", _ => "未依頼" }) }
            @if let Some(d) = v.get("decision") {
                dt { "認定結果" }
                dd class="decision" {
                    (words::care_level(d["care_level"].as_str().unwrap_or_default()))
                    " ・ 有効期間 " (d["validity_start_date"].as_str().unwrap_or_default()) "〜" (d["validity_end_date"].as_str().unwrap_or_default())
                }
            }
        }
        h2 { "経過" }
        ol class="timeline" {
            @for s in &timeline {
                li {
                    strong { (s["stage_name"].as_str().unwrap_or_default()) }
                    " ・ " (s["recorded_at"].as_str().unwrap_or_default())
                    @if let Some(d) = s["details"].as_object() {
                        @let shown: Vec<(&String, &Value)> = d.iter().filter(|(k, _)| !k.ends_with("_id") && *k != "person").collect();
                        @if !shown.is_empty() {
                            ul {
                                @for (k, x) in shown {
                                    li { (step_field(k)) ": " (step_value(k, x)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ok_page(chrome, "要介護認定の進捗", body))
}

fn step_field(key: &str) -> &str {
    match key {
        "survey_date" => "調査日",
        "requested_from" => "依頼先",
        "estimated_care_level" => "一次判定の結果",
        "committee_date" => "審査会の日",
        "care_level" => "要介護状態区分",
        "certification_date" => "認定日",
        "validity_start_date" => "有効期間（開始）",
        "validity_end_date" => "有効期間（終了）",
        "committee_opinion" => "審査会の意見",
        "notified_date" => "通知日",
        "received_date" => "受付日",
        "reason" => "理由",
        "note" => "備考",
        other => other,
    }
}

fn step_value(key: &str, v: &Value) -> String {
    match v {
        Value::String(s) if key.ends_with("care_level") => words::care_level(s),
        Value::String(s) if s.starts_with("urn:carehub:") => words::principal_urn(s),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn request_form(keys: &Keys, req: &Request<'_>, chrome: &Chrome) -> Result<Reply, Reply> {
    let person = req.person_param()?;
    if req.principal.role() != Role::CareManager {
        return Err(wrong_role());
    }
    let body = html! {
        p class="person" { "保険者番号 " (person.insurer_number.as_str()) " ・ 被保険者番号 " (person.insured_number.as_str()) }
        form method="post" action={"/web/office/persons/" (person_path(&person)) "/request"} class="stack" {
            (csrf_field(keys, req))
            input type="hidden" name="form_key" value=(form_key(keys, req));
            fieldset {
                legend { "届出の区分" }
                label { input type="radio" name="request_type" value="new" checked; " 新規" }
                label { input type="radio" name="request_type" value="change"; " 変更" }
            }
            label for="notification_date" { "届出年月日" }
            input id="notification_date" name="notification_date" type="date" required;
            label for="insured_name" { "被保険者氏名" }
            input id="insured_name" name="insured_name" required;
            label for="birth_date" { "生年月日" }
            input id="birth_date" name="birth_date" type="date";
            fieldset {
                legend { "居宅介護支援事業所" }
                p { "事業所番号 " (req.principal.code()) }
                label for="office_name" { "事業所名" }
                input id="office_name" name="office_name" required;
                label for="office_address" { "所在地" }
                input id="office_address" name="office_address" required;
                label for="care_manager_name" { "介護支援専門員の氏名（任意）" }
                input id="care_manager_name" name="care_manager_name";
            }
            label for="start_date" { "計画作成の開始年月日" }
            input id="start_date" name="start_date" type="date";
            button type="submit" { "市町村へ送信する" }
        }
    };
    Ok(ok_page(chrome, "居宅サービス計画作成依頼届出", body))
}

fn send_request<D: Db>(store: &SqlStore<D>, req: &Request<'_>) -> Result<Reply, Reply> {
    let person = req.person_param()?;
    let mut content = json!({
        "request_type": req.text("request_type"),
        "notification_date": req.text("notification_date"),
        "insured_name": req.text("insured_name"),
        "office": {
            "office_number": req.principal.code(),
            "name": req.text("office_name"),
            "address": req.text("office_address"),
        },
    });
    for key in ["birth_date", "start_date", "care_manager_name"] {
        let v = req.text(key);
        if !v.is_empty() {
            content[key] = json!(v);
        }
    }
    let body = json!({
        "type": "care_plan_request",
        "person": person,
        "content": content,
    });
    let key = idempotency_key(req)?;
    ok_json(carehub_relay::handler::submit(
        store,
        &req.principal,
        &api_head("POST", "/submissions"),
        key.as_ref(),
        body.to_string().as_bytes(),
        &req.now,
    ))?;
    Ok(page::see_other(&format!(
        "/web/office/persons/{}#sent",
        person_path(&person)
    )))
}

// ----------------------------------------------------------- municipality

fn municipality_home<D: Db>(
    store: &SqlStore<D>,
    req: &Request<'_>,
    chrome: &Chrome,
) -> Result<Reply, Reply> {
    let stage = req.query("stage").filter(|s| !s.is_empty());
    let mut query = format!("limit={MAX_LIMIT}");
    if let Some(s) = &stage {
        query.push_str("&stage=");
        query.extend(form_urlencoded::byte_serialize(s.as_bytes()));
    }
    let caller = Caller::new(req.principal.clone());
    let v = ok_json(carehub_progress::handler::open_list(
        store, &caller, &query, &req.now,
    ))?;
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let stages: Vec<Stage> = Stage::ALL.into_iter().filter(|s| s.is_open()).collect();
    let body = html! {
        form method="get" action="/web/municipality/" class="inline" {
            label for="stage" { "段階で絞り込む " }
            select id="stage" name="stage" {
                option value="" { "すべて" }
                @for s in &stages {
                    option value=(s.as_str()) selected[stage.as_deref() == Some(s.as_str())] { (s.japanese_name()) }
                }
            }
            button type="submit" { "表示" }
        }
        @for s in &stages {
            @let here: Vec<&Value> = items.iter().filter(|a| a["stage"].as_str() == Some(s.as_str())).collect();
            @if !here.is_empty() {
                section aria-labelledby={"stage-" (s.as_str())} {
                    h2 id={"stage-" (s.as_str())} { (s.japanese_name()) "（" (here.len()) "件）" }
                    table class="list" {
                        thead { tr { th scope="col" { "申請" } th scope="col" { "被保険者番号" } th scope="col" { "種類" } th scope="col" { "受付" } } }
                        tbody {
                            @for a in here {
                                tr {
                                    td { (a["application_id"].as_str().unwrap_or_default()) }
                                    td { (a["person"]["insured_number"].as_str().unwrap_or_default()) }
                                    td { (words::application_type(a["application_type"].as_str().unwrap_or_default())) }
                                    td { (a["received_at"].as_str().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if items.is_empty() { p { "処理中の申請はありません。" } }
    };
    Ok(ok_page(chrome, "認定申請の進捗", body))
}

fn inbox<D: Db>(
    store: &SqlStore<D>,
    keys: &Keys,
    req: &Request<'_>,
    chrome: &Chrome,
) -> Result<Reply, Reply> {
    let v = ok_json(carehub_relay::handler::inbox(
        store,
        &req.principal,
        &format!("limit={MAX_LIMIT}"),
        &req.now,
    ))?;
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let body = html! {
        @if items.is_empty() { p { "未処理の届出はありません。" } }
        @for s in &items {
            @let id = s["submission_id"].as_str().unwrap_or_default();
            @let c = &s["content"];
            article class="sheet submission" aria-labelledby={"s-" (id)} {
                h2 id={"s-" (id)} { (words::submission_type(s["type"].as_str().unwrap_or_default())) " " small { (id) } }
                dl class="summary" {
                    dt { "送信元" } dd { (words::principal_urn(s["sender"].as_str().unwrap_or_default())) }
                    dt { "被保険者番号" } dd { (s["person"]["insured_number"].as_str().unwrap_or_default()) }
                    dt { "状態" } dd { (words::submission_state(s["state"].as_str().unwrap_or_default())) }
                    @if let Some(name) = c["insured_name"].as_str() { dt { "被保険者氏名" } dd { (name) } }
                    @if let Some(t) = c["request_type"].as_str() { dt { "区分" } dd { (if t == "change" { "変更" } else { "新規" }) } }
                    @if let Some(d) = c["notification_date"].as_str() { dt { "届出年月日" } dd { (d) } }
                    @if let Some(o) = c["office"]["name"].as_str() { dt { "事業所名" } dd { (o) } }
                }
                @if s["type"] == "care_plan_request" {
                    form method="post" action={"/web/municipality/submissions/" (id) "/acknowledge"} class="inline" {
                        (csrf_field(keys, req))
                        label { "受付番号 " input type="text" name="receipt_number" required; }
                        button type="submit" { "受理する" }
                    }
                    form method="post" action={"/web/municipality/submissions/" (id) "/reject"} class="inline" {
                        (csrf_field(keys, req))
                        label { "返戻の理由 " input type="text" name="reason" required; }
                        button type="submit" { "返戻する" }
                    }
                }
            }
        }
    };
    Ok(ok_page(chrome, "届出の受信箱", body))
}

fn answer<D: Db>(store: &SqlStore<D>, req: &Request<'_>) -> Result<Reply, Reply> {
    let acknowledge = req.endpoint == Endpoint::Acknowledge;
    let body = if acknowledge {
        json!({"receipt_number": req.text("receipt_number")})
    } else {
        json!({"reason": req.text("reason")})
    };
    let action = if acknowledge { "acknowledge" } else { "reject" };
    ok_json(carehub_relay::handler::answer(
        store,
        &req.principal,
        req.params[0],
        acknowledge,
        &api_head("POST", &format!("/submissions/{}/{action}", req.params[0])),
        None,
        body.to_string().as_bytes(),
        &req.now,
    ))?;
    Ok(page::see_other("/web/municipality/inbox"))
}

fn consent_history(v: &Value) -> Markup {
    let history = v["history"].as_array().cloned().unwrap_or_default();
    html! {
        p class="consent-state" { "現在の状態: " strong { (words::consent_state(v["state"].as_str().unwrap_or_default())) } }
        @if !history.is_empty() {
            table class="list" {
                caption { "同意の履歴" }
                thead { tr { th scope="col" { "記録" } th scope="col" { "内容" } th scope="col" { "経由" } th scope="col" { "記録日時" } } }
                tbody {
                    @for h in &history {
                        tr {
                            td { (words::consent_event(h["event"].as_str().unwrap_or_default())) }
                            td {
                                @if let Some(m) = h["method"].as_str() { "方法: " (m) " " }
                                @if let Some(r) = h["application_ref"].as_str() { "申請: " (r) }
                            }
                            td { (words::principal_urn(h["through"].as_str().or(h["recorded_by"].as_str()).unwrap_or_default())) }
                            td { (h["recorded_at"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

fn municipality_consent<D: Db>(
    store: &SqlStore<D>,
    req: &Request<'_>,
    chrome: &Chrome,
) -> Result<Reply, Reply> {
    let insured = req.query("insured_number").unwrap_or_default();
    let shown = if insured.is_empty() {
        None
    } else {
        let person = routing::person_from_path(req.principal.code(), &insured)?;
        let caller = Caller::new(req.principal.clone());
        Some(ok_json(carehub_consent::handler::show(
            store, &caller, &person, &req.now,
        ))?)
    };
    let body = html! {
        form method="get" action="/web/municipality/consent" class="inline" {
            label for="insured_number" { "被保険者番号 " }
            input id="insured_number" name="insured_number" inputmode="numeric" required value=(insured);
            button type="submit" { "表示" }
        }
        @if let Some(v) = &shown { (consent_history(v)) }
    };
    Ok(ok_page(chrome, "同意の履歴", body))
}

// ----------------------------------------------------------------- person

fn cookie<'h>(head: &'h RequestHead, name: &str) -> Option<&'h str> {
    head.header_values("cookie")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The portal's caller from the person cookie: `None` without a cookie,
/// the problem when its token does not verify (expired, forged).
fn person_caller(keys: &Keys, req: &Request<'_>) -> Result<Option<Caller>, Reply> {
    let Some(token) = cookie(req.head, PERSON_COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let token: PersonToken = keys
        .person
        .verify_token(token, req.unix)
        .map_err(|e| Reply::problem(&e.to_problem()))?;
    Ok(Some(Caller::with_token(req.principal.clone(), token)))
}

fn login_form(keys: &Keys, req: &Request<'_>, chrome: &Chrome, error: Option<&str>) -> Reply {
    let body = html! {
        p { "マイナポータルから受け取った本人確認のトークンを入力してください。トークンはこのブラウザーにだけ保存され（Cookie, HttpOnly）、有効期限が来ると使えなくなります。" }
        @if let Some(e) = error { p class="problem" role="alert" { (e) } }
        form method="post" action="/web/person/login" class="stack" {
            (csrf_field(keys, req))
            label for="token" { "本人確認のトークン" }
            textarea id="token" name="token" rows="4" required autocomplete="off" {}
            button type="submit" { "表示する" }
        }
    };
    page::html(
        if error.is_some() { 401 } else { 200 },
        page::layout(Some(chrome), "ご本人の確認", body),
    )
}

fn login(keys: &Keys, req: &Request<'_>, chrome: &Chrome) -> Result<Reply, Reply> {
    let token = req.text("token");
    match keys.person.verify_token_with_expiry(&token, req.unix) {
        Ok(_) => Ok(page::see_other("/web/person/").with_header(
            "set-cookie",
            format!("{PERSON_COOKIE}={token}; Secure; HttpOnly; SameSite=Strict; Path=/"),
        )),
        Err(e) => Ok(login_form(
            keys,
            req,
            chrome,
            Some(&format!(
                "トークンを確認できませんでした（{}）。",
                e.to_problem().type_.type_uri()
            )),
        )
        .with_header(page::PROBLEM_TYPE_HEADER, e.to_problem().type_.type_uri())),
    }
}

fn person_home<D: Db>(
    store: &SqlStore<D>,
    keys: &Keys,
    req: &Request<'_>,
    caller: &Caller,
    chrome: &Chrome,
) -> Result<Reply, Reply> {
    let person = caller
        .token_person()
        .cloned()
        .ok_or_else(|| Reply::problem(&Problem::forbidden()))?;
    let docs = documents(store, caller, &person, &req.now)?;
    let consent = ok_json(carehub_consent::handler::show(
        store, caller, &person, &req.now,
    ))?;
    let offices = ok_json(carehub_office_register::handler::person_registrations(
        store,
        &caller.principal,
        caller.token_person(),
        &person,
        Page {
            limit: MAX_LIMIT,
            before_seq: None,
        },
        &req.now,
    ))?;
    let progress = ok_json(carehub_progress::handler::person_list(
        store,
        caller,
        person.insurer_number.as_str(),
        person.insured_number.as_str(),
        "limit=50",
        &req.now,
    ))?;
    let regs = offices["registrations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let body = html! {
        p class="person" { "保険者番号 " (person.insurer_number.as_str()) " ・ 被保険者番号 " (person.insured_number.as_str()) }
        section aria-labelledby="consent" {
            h2 id="consent" { "情報共有への同意" }
            (consent_history(&consent))
            @if consent["state"] == "in_force" {
                p { a class="button danger" href="/web/person/withdraw" { "同意を撤回する" } }
            }
        }
        section aria-labelledby="offices" {
            h2 id="offices" { "担当の事業所・医療機関" }
            @if regs.is_empty() { p { "登録されている事業所はありません。" } } @else {
                table class="list" {
                    thead { tr { th scope="col" { "事業所" } th scope="col" { "状態" } th scope="col" { "開始" } th scope="col" { "終了" } } }
                    tbody {
                        @for r in &regs {
                            tr {
                                td { (words::principal_urn(r["office"].as_str().unwrap_or_default())) }
                                td { (words::registration_state(r["state"].as_str().unwrap_or_default())) }
                                td { (r["start"].as_str().unwrap_or_default()) }
                                td { (r["deregistration"]["deregistered_at"].as_str().or(r["end"].as_str()).unwrap_or("—")) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="progress" {
            h2 id="progress" { "要介護認定の進捗" }
            (applications(&progress, "/web/person/applications/"))
        }
        section aria-labelledby="docs" {
            h2 id="docs" { "わたしの書類" }
            (document_section(&docs, None))
        }
        section aria-labelledby="log" {
            h2 id="log" { "閲覧の記録" }
            p { a href="/web/person/accesses" { "だれが、いつ、わたしの情報を見たか" } }
        }
        form method="post" action="/web/person/logout" {
            (csrf_field(keys, req))
            button type="submit" { "終了する" }
        }
    };
    Ok(ok_page(chrome, "わたしの介護情報", body))
}

fn withdraw_confirm(keys: &Keys, req: &Request<'_>, chrome: &Chrome) -> Reply {
    let body = html! {
        p { "同意を撤回すると、担当の事業所や医療機関は、これ以降あなたの介護情報を閲覧できなくなります（市町村は引き続き閲覧します）。撤回は記録に残ります。" }
        form method="post" action="/web/person/withdraw" {
            (csrf_field(keys, req))
            button type="submit" class="danger" { "同意を撤回する（確定）" }
        }
        p { a href="/web/person/" { "撤回しないで戻る" } }
    };
    ok_page(chrome, "同意の撤回の確認", body)
}

fn withdraw<D: Db>(
    store: &SqlStore<D>,
    req: &Request<'_>,
    caller: &Caller,
) -> Result<Reply, Reply> {
    let person = caller
        .token_person()
        .cloned()
        .ok_or_else(|| Reply::problem(&Problem::forbidden()))?;
    ok_json(carehub_consent::handler::record(
        store,
        caller,
        &person,
        &api_head("POST", &format!("/persons/{}/events", person_path(&person))),
        None,
        br#"{"event":"withdrawn"}"#,
        &req.now,
    ))?;
    Ok(page::see_other("/web/person/#consent"))
}

fn accesses<D: Db>(store: &SqlStore<D>, caller: &Caller, chrome: &Chrome) -> Result<Reply, Reply> {
    let person = caller
        .token_person()
        .cloned()
        .ok_or_else(|| Reply::problem(&Problem::forbidden()))?;
    let v = ok_json(carehub_read::handler::accesses(
        store,
        &caller.principal,
        caller.token_person(),
        &person,
        Page {
            limit: MAX_LIMIT,
            before_seq: None,
        },
    ))?;
    let status = logstatus::status(store, &person, MAX_LIMIT)
        .map_err(|e| carehub_guest::problem::internal("web: log status", &e))?;
    let rows = v["accesses"].as_array().cloned().unwrap_or_default();
    let body = html! {
        section aria-labelledby="status" class={"log-status " (if matches!(status, logstatus::LogStatus::Broken { .. }) { "broken" } else { "intact" })} {
            h2 id="status" { "記録の確認" }
            p { (status.words()) }
        }
        table class="list accesses" {
            caption { "閲覧の記録（新しい順）" }
            thead { tr {
                th scope="col" { "日時" }
                th scope="col" { "だれが" }
                th scope="col" { "何を" }
                th scope="col" { "書類" }
                th scope="col" { "結果" }
            } }
            tbody {
                @for a in &rows {
                    @let outcome = a["outcome"].as_str().unwrap_or_default();
                    tr class=(outcome) {
                        td { (a["at"].as_str().unwrap_or_default()) }
                        td {
                            (words::principal_urn(a["principal"].as_str().unwrap_or_default()))
                            @if let Some(actor) = a["actor"].as_str() { "（" (if actor == "person" { "ご本人" } else { "代理人" }) "）" }
                        }
                        td { (words::action(a["action"].as_str().unwrap_or_default())) }
                        td { (a["kind"].as_str().map(words::kind).unwrap_or_default()) }
                        td class="outcome" { (words::outcome(outcome)) }
                    }
                }
            }
        }
    };
    Ok(ok_page(chrome, "閲覧の記録", body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_store::native::NativeDb;

    /// Some P-256 public key (no token in these tests verifies with it).
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERH/52XW5eqZTz+kxd/J440roXGIn
fxf1Q51yvjNHA+TmKnKdSAjGwt7pweDHoVOZFDnFh0gQCqB4YLn3iFoebw==
-----END PUBLIC KEY-----";

    fn keys() -> Keys {
        Keys {
            csrf: b"0123456789abcdef0123456789abcdef".to_vec(),
            person: Verifier::from_pem(PUBLIC, "carehub-dev-idp").unwrap(),
        }
    }

    fn call(urn: &str, method: &str, path: &str, form: &[(&str, &str)]) -> Reply {
        let store = SqlStore::new(NativeDb::migrated());
        let head = RequestHead::new(
            method,
            path,
            "",
            vec![(
                "spin-full-url".to_owned(),
                format!("https://hub.example{path}").into_bytes(),
            )],
        );
        let matched = routing::route(ROUTES, &head).unwrap();
        let req = Request {
            head: &head,
            principal: Principal::parse_urn(urn).unwrap(),
            endpoint: matched.endpoint,
            params: matched.params,
            form: form
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            now: "2026-01-05T00:00:00Z".to_owned(),
            unix: 1_767_571_200,
        };
        serve(&store, &keys(), &req)
    }

    const CM: &str = "urn:carehub:care-manager:1371234567";

    #[test]
    fn each_role_reaches_only_its_own_screens() {
        let cases = [
            (CM, "/office/", 200),
            (CM, "/municipality/inbox", 403),
            (CM, "/person/accesses", 403),
            (
                "urn:carehub:municipality:131016",
                "/municipality/inbox",
                200,
            ),
            ("urn:carehub:municipality:131016", "/office/", 403),
            ("urn:carehub:portal:mynaportal-dev", "/person/login", 200),
            ("urn:carehub:portal:mynaportal-dev", "/person/", 303),
            ("urn:carehub:portal:mynaportal-dev", "/office/register", 403),
            ("urn:carehub:operator:ops-dev", "/office/", 403),
        ];
        for (urn, path, status) in cases {
            let r = call(urn, "GET", path, &[]);
            assert_eq!(r.status, status, "{urn} {path}");
            if status == 403 {
                assert_eq!(
                    r.header(page::PROBLEM_TYPE_HEADER),
                    Some("urn:carehub:problem:role-not-allowed")
                );
            }
        }
    }

    #[test]
    fn a_post_without_a_valid_token_is_refused_before_anything_else() {
        // Even a wrong role's POST is refused as a cross-site request first.
        for (urn, path) in [
            (CM, "/office/register"),
            ("urn:carehub:municipality:131016", "/office/register"),
            ("urn:carehub:portal:mynaportal-dev", "/person/withdraw"),
        ] {
            let r = call(urn, "POST", path, &[("csrf", "1.00")]);
            assert_eq!(r.status, 403);
            assert_eq!(
                r.header(page::PROBLEM_TYPE_HEADER),
                Some("urn:carehub:problem:cross-site-request")
            );
        }
        let principal = Principal::parse_urn(CM).unwrap();
        let token = csrf::token(&keys().csrf, &principal, 1_767_571_200);
        // With the token, the registration's own rules answer (422: no fields).
        let r = call(CM, "POST", "/office/register", &[("csrf", &token)]);
        assert_ne!(r.status, 403);
        assert_eq!(r.header("content-type"), Some(page::HTML));
    }

    #[test]
    fn a_forged_person_cookie_is_the_apis_refusal() {
        let store = SqlStore::new(NativeDb::migrated());
        let head = RequestHead::new(
            "GET",
            "/person/",
            "",
            vec![(
                "cookie".to_owned(),
                format!("a=b; {PERSON_COOKIE}=x.y.z").into_bytes(),
            )],
        );
        let req = Request {
            head: &head,
            principal: Principal::parse_urn("urn:carehub:portal:mynaportal-dev").unwrap(),
            endpoint: Endpoint::PersonHome,
            params: Vec::new(),
            form: Vec::new(),
            now: "2026-01-05T00:00:00Z".to_owned(),
            unix: 1_767_571_200,
        };
        let r = serve(&store, &keys(), &req);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header(page::PROBLEM_TYPE_HEADER),
            Some("urn:carehub:problem:person-token-invalid")
        );
    }
}
