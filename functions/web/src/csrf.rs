//! Cross-site request forgery: the client certificate (and the person's
//! cookie) go with every request the browser sends, including a form
//! another site makes it post. So every form POST must carry a token only
//! the hub's own page could have put there, and must not come from another
//! origin.
//!
//! The token is `<expiry>.<hex HMAC-SHA256>` over the principal's URN and
//! the expiry, keyed with the secret Spin variable `web_csrf_key`: bound to
//! the caller, valid for [`LIFETIME_SECS`], stateless (a fresh instance per
//! request keeps nothing). On top of it, a browser's `Sec-Fetch-Site` must
//! say `same-origin` (or `none`) and its `Origin`, when sent, must be the
//! hub's own.

use carehub_domain::{Principal, Problem, ProblemType};
use carehub_guest::http::RequestHead;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The hidden form field that carries the token.
pub const FIELD: &str = "csrf";

/// How long a page's forms stay valid.
pub const LIFETIME_SECS: u64 = 2 * 60 * 60;

/// Domain separation: this key signs nothing else.
const LABEL: &[u8] = b"carehub-web/csrf/v1";

fn mac(key: &[u8], principal: &Principal, expiry: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(LABEL);
    mac.update(&[0x1e]);
    mac.update(principal.to_urn().as_bytes());
    mac.update(&[0x1e]);
    mac.update(expiry.to_string().as_bytes());
    mac
}

/// A token for `principal`'s forms, issued at `now` (Unix seconds).
pub fn token(key: &[u8], principal: &Principal, now: u64) -> String {
    let expiry = now + LIFETIME_SECS;
    let tag = mac(key, principal, expiry).finalize().into_bytes();
    format!("{expiry}.{}", hex::encode(tag))
}

/// Whether `token` was issued to `principal` with `key` and has not expired.
/// The tag is compared in constant time.
pub fn verify(key: &[u8], principal: &Principal, token: &str, now: u64) -> bool {
    let Some((expiry, tag)) = token.split_once('.') else {
        return false;
    };
    let (Ok(expiry), Ok(tag)) = (expiry.parse::<u64>(), hex::decode(tag)) else {
        return false;
    };
    expiry >= now
        && expiry <= now + LIFETIME_SECS
        && mac(key, principal, expiry).verify_slice(&tag).is_ok()
}

/// The origin (`scheme://host[:port]`) this request was addressed to, from
/// Spin's `spin-full-url` (which the edge sets).
pub fn own_origin(head: &RequestHead) -> Option<String> {
    let url = head.header("spin-full-url")?;
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    ))
}

/// Whether the browser's own headers say the request came from the hub's
/// page: `Sec-Fetch-Site` absent, `same-origin` or `none`; `Origin` absent
/// or the hub's own origin (`null`, sent for opaque origins, is refused).
pub fn same_origin(head: &RequestHead) -> bool {
    if let Some(site) = head.header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match head.header("origin") {
        None => true,
        Some(origin) => own_origin(head).is_some_and(|own| origin.eq_ignore_ascii_case(&own)),
    }
}

/// The refusal of a forged or stale form post.
pub fn refusal() -> Problem {
    Problem::new(
        ProblemType::CrossSiteRequest,
        "This form was not sent from the hub's own page, or the page is too old. Reload the page and send it again.",
    )
}

/// Checks a form POST: the browser headers ([`same_origin`]) and the token
/// field ([`verify`]).
pub fn check(
    key: &[u8],
    principal: &Principal,
    head: &RequestHead,
    token: Option<&str>,
    now: u64,
) -> Result<(), Problem> {
    if !same_origin(head) {
        eprintln!(
            "carehub: web: cross-site form post refused: origin {:?}, sec-fetch-site {:?}, hub {:?}",
            head.header("origin"),
            head.header("sec-fetch-site"),
            own_origin(head)
        );
        return Err(refusal());
    }
    match token {
        Some(t) if verify(key, principal, t, now) => Ok(()),
        Some(_) => {
            eprintln!("carehub: web: form post refused: the form token does not verify");
            Err(refusal())
        }
        None => {
            eprintln!("carehub: web: form post refused: no form token");
            Err(refusal())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(urn: &str) -> Principal {
        Principal::parse_urn(urn).unwrap()
    }

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead::new(
            "POST",
            "/office/registrations",
            "",
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .chain(std::iter::once((
                    "spin-full-url".to_owned(),
                    b"https://127.0.0.1:8443/web/office/registrations".to_vec(),
                ))),
        )
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const CM: &str = "urn:carehub:care-manager:1371234567";

    #[test]
    fn a_token_verifies_for_its_principal_only_and_until_it_expires() {
        let cm = principal(CM);
        let other = principal("urn:carehub:care-manager:1379999999");
        let t = token(KEY, &cm, 1_000);
        assert!(verify(KEY, &cm, &t, 1_000));
        assert!(verify(KEY, &cm, &t, 1_000 + LIFETIME_SECS));
        assert!(!verify(KEY, &cm, &t, 1_001 + LIFETIME_SECS), "expired");
        assert!(!verify(KEY, &other, &t, 1_000), "another principal");
        assert!(!verify(b"another key", &cm, &t, 1_000), "another key");
    }

    #[test]
    fn a_tampered_or_malformed_token_fails() {
        let cm = principal(CM);
        let t = token(KEY, &cm, 1_000);
        let (expiry, tag) = t.split_once('.').unwrap();
        let later = format!("{}.{tag}", expiry.parse::<u64>().unwrap() + 10);
        assert!(!verify(KEY, &cm, &later, 1_000), "expiry moved");
        let mut flipped = t.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(!verify(
            KEY,
            &cm,
            std::str::from_utf8(&flipped).unwrap(),
            1_000
        ));
        for bad in ["", ".", "x.y", "1000", "99999999999999999999.00"] {
            assert!(!verify(KEY, &cm, bad, 1_000), "{bad:?}");
        }
        // A far-future expiry is refused even with a valid tag.
        let far = 1_000 + LIFETIME_SECS * 10;
        let tag = hex::encode(mac(KEY, &cm, far).finalize().into_bytes());
        assert!(!verify(KEY, &cm, &format!("{far}.{tag}"), 1_000));
    }

    #[test]
    fn another_site_is_refused_by_its_headers() {
        assert!(same_origin(&head(&[])));
        assert!(same_origin(&head(&[("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&head(&[("origin", "https://127.0.0.1:8443")])));
        assert!(!same_origin(&head(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&head(&[("sec-fetch-site", "same-site")])));
        assert!(!same_origin(&head(&[("origin", "https://evil.example")])));
        assert!(!same_origin(&head(&[("origin", "null")])));
        assert!(!same_origin(&head(&[("origin", "https://127.0.0.1:9999")])));
    }

    #[test]
    fn check_wants_both_the_headers_and_the_token() {
        let cm = principal(CM);
        let t = token(KEY, &cm, 1_000);
        assert_eq!(check(KEY, &cm, &head(&[]), Some(&t), 1_000), Ok(()));
        assert!(check(KEY, &cm, &head(&[]), None, 1_000).is_err());
        let cross = head(&[("sec-fetch-site", "cross-site")]);
        let err = check(KEY, &cm, &cross, Some(&t), 1_000).unwrap_err();
        assert_eq!(err.type_, ProblemType::CrossSiteRequest);
    }
}
