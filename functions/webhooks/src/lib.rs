//! # carehub-webhooks
//!
//! Webhooks for the citizen portal and municipalities (DESIGN §8). A Spin
//! HTTP component on route `/api/webhooks/...`:
//!
//! * `POST /subscriptions` (`url`, optional `event_types`) — the portal or a
//!   municipality registers an endpoint; 201 with the signing secret
//!   (`whsec_…`), shown once. A URL outside the hub's allowed outbound
//!   origin is refused (422 `webhook-url-not-allowed`);
//! * `GET /subscriptions`, `GET /subscriptions/{id}`;
//! * `POST /subscriptions/{id}/rotate` — a new secret; the old one keeps
//!   signing for 24 hours (both `v1` signatures are sent);
//! * `POST /subscriptions/{id}/enable` — resume after a 410;
//! * `GET /subscriptions/{id}/messages`, `GET …/messages/{message_id}` —
//!   deliveries and every attempt;
//! * `POST …/messages/{message_id}/redeliver` — deliver again (same id);
//! * `POST /dispatch` — one dispatcher run, for the scheduler principal
//!   only (`urn:carehub:operator:scheduler`): fan out, claim, deliver with
//!   Standard Webhooks signatures, record;
//! * `POST /purge` — the hub's retention job, for the scheduler only:
//!   deletes expired idempotency records (`idempotency_retention_secs`,
//!   7 days) and messages delivered longer ago than
//!   `webhook_retention_secs` (30 days) with their attempts; never the
//!   append-only history.
//!
//! Signing secrets are sealed at rest (ChaCha20-Poly1305 under the secret
//! variable `webhook_secret_key`, `carehub_domain::sealed`): in the
//! subscriptions and in the stored answers of create and rotate; they are
//! opened only to answer the caller and to sign a delivery.
//!
//! The writes (create, rotate, enable, redeliver) take an optional
//! `Idempotency-Key` (`carehub_guest::idempotency::write_once`): the same
//! principal, key and request get the stored answer again — for create and
//! rotate that includes the secret, so a client that lost the answer learns
//! it without registering or rotating twice; the key with another request
//! is 409 `idempotency-key-reused`.
//!
//! [`handler`] is plain Rust, tested natively against the real schema; only
//! `component` touches Spin (variables, randomness, outbound HTTP).
#![deny(missing_docs)]

pub mod handler;

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
// `component!` expands to the component's export glue (`export_name`,
// unsafe ABI shims); this module holds nothing else.
#[allow(unsafe_code)]
mod component {
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    use carehub_domain::sealed::SealingKey;
    use carehub_domain::webhook::{
        DEFAULT_BACKOFF_BASE_MS, OriginPattern, Secret, SubscriptionId, attempt_outcome,
        signature_header,
    };
    use carehub_guest::Call;
    use carehub_guest::http::JSON;
    use carehub_guest::problem::internal;
    use carehub_guest::{Reply, clock, idempotency, wasm};
    use carehub_store::{AttemptRecord, Delivery};
    use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingRequest, Scheme};
    use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
    use spin_sdk::wit::wasi::http0_2_0::types::{
        FutureIncomingResponse, OutgoingBody, RequestOptions,
    };

    use crate::handler::{
        self, ANSWER_TIMEOUT_NS, BODY_LIMIT, CONNECT_TIMEOUT_NS, Config, Endpoint, ROUTES,
    };

    carehub_guest::component!(ROUTES, serve);

    fn now_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn random<const N: usize>() -> Result<[u8; N], Reply> {
        let mut bytes = [0u8; N];
        getrandom::fill(&mut bytes).map_err(|e| internal("drawing random bytes", &e))?;
        Ok(bytes)
    }

    fn jitter() -> f64 {
        random::<8>()
            .map(|b| (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64)
            .unwrap_or(0.0)
    }

    fn config() -> Result<Config, Reply> {
        let var = |name: &str| wasm::variable(name).map_err(|e| internal("reading a variable", &e));
        let number = |name: &str, default: u64| -> Result<u64, Reply> {
            match var(name)? {
                Some(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| {
                    internal("reading a variable", &format!("{name} is not a number"))
                }),
                _ => Ok(default),
            }
        };
        Ok(Config {
            allowed_origin: var("webhook_allowed_origin")?
                .as_deref()
                .and_then(OriginPattern::parse),
            backoff_base_ms: number("webhook_backoff_base_ms", DEFAULT_BACKOFF_BASE_MS)?,
            lease_ms: number("webhook_lease_ms", 60_000)?,
            secret_key: var("webhook_secret_key")?
                .as_deref()
                .and_then(SealingKey::from_hex)
                .ok_or_else(|| {
                    internal(
                        "reading a variable",
                        &"webhook_secret_key is not 64 hex digits",
                    )
                })?,
        })
    }

    fn retention() -> Result<handler::Retention, Reply> {
        let secs = |name: &str, default: u64| -> Result<u64, Reply> {
            let value = wasm::variable(name).map_err(|e| internal("reading a variable", &e))?;
            idempotency::retention_secs(name, value.as_deref(), default)
                .map_err(|e| internal("reading a variable", &e))
        };
        Ok(handler::Retention {
            idempotency_secs: secs(
                idempotency::RETENTION_VARIABLE,
                idempotency::DEFAULT_RETENTION_SECS,
            )?,
            delivered_secs: secs(
                "webhook_retention_secs",
                handler::DEFAULT_MESSAGE_RETENTION_SECS,
            )?,
        })
    }

    fn secret() -> Result<Secret, Reply> {
        Secret::from_bytes(&random::<32>()?)
            .ok_or_else(|| internal("making a secret", &"32 bytes refused"))
    }

    async fn serve(req: IncomingRequest, call: Call<'_, Endpoint>) -> Result<Reply, Reply> {
        let (head, principal, matched) = (call.head, call.principal, call.matched);
        if matches!(matched.endpoint, Endpoint::Dispatch | Endpoint::Purge) {
            handler::authorize_dispatch(&principal)?;
        }
        let config = config()?;
        let store = wasm::open_store()?;
        let now = clock::now_rfc3339();
        let p = &matched.params;
        Ok(match matched.endpoint {
            Endpoint::Create => {
                let key = idempotency::key(head)?;
                let body = wasm::read_body(req, head, JSON, BODY_LIMIT).await?;
                let secret = secret()?;
                let id = SubscriptionId::from_random(random::<16>()?);
                let key = key.as_ref();
                handler::create(
                    &store, &principal, head, key, &body, &config, &secret, id, &now,
                )
            }
            Endpoint::List => handler::list(&store, &principal),
            Endpoint::Show => handler::show(&store, &principal, p[0]),
            Endpoint::Rotate => {
                let key = idempotency::key(head)?;
                let (secret, ms) = (secret()?, now_ms());
                handler::rotate(
                    &store,
                    &principal,
                    head,
                    key.as_ref(),
                    p[0],
                    &config,
                    &secret,
                    ms,
                    &now,
                )
            }
            Endpoint::Enable => {
                let key = idempotency::key(head)?;
                handler::enable(&store, &principal, head, key.as_ref(), p[0], &now)
            }
            Endpoint::Messages => handler::messages(&store, &principal, p[0], &head.query),
            Endpoint::Message => handler::message(&store, &principal, p[0], p[1]),
            Endpoint::Redeliver => {
                let key = idempotency::key(head)?;
                let key = key.as_ref();
                handler::redeliver(&store, &principal, head, key, p[0], p[1], now_ms(), &now)
            }
            Endpoint::Purge => handler::purge(&store, retention()?, SystemTime::now()),
            Endpoint::Dispatch => {
                let (created, deliveries) =
                    handler::prepare_dispatch(&store, &config, now_ms(), &now)?;
                let attempts = deliver_all(&deliveries);
                let results: Vec<_> = deliveries
                    .into_iter()
                    .zip(attempts)
                    .map(|(d, a)| (d, a, jitter()))
                    .collect();
                handler::finish_dispatch(&store, &config, created, &results, now_ms())
            }
        })
    }

    /// One outbound request in flight.
    struct InFlight {
        future: Option<FutureIncomingResponse>,
        started: Instant,
        attempted_at: String,
        result: Option<(Option<u16>, Option<String>)>,
    }

    fn failed(attempted_at: String, error: String) -> InFlight {
        InFlight {
            future: None,
            started: Instant::now(),
            attempted_at,
            result: Some((None, Some(error))),
        }
    }

    /// Starts one signed delivery: `POST url` with the payload and the
    /// Standard Webhooks headers. The gateway refuses a destination outside
    /// `allowed_outbound_hosts` (the attempt records the refusal).
    fn start(d: &Delivery) -> InFlight {
        let attempted_at = clock::now_rfc3339();
        let uri: http::Uri = match d.url.parse() {
            Ok(u) => u,
            Err(e) => return failed(attempted_at, format!("bad url: {e}")),
        };
        let secrets: Vec<Secret> = d.secrets.iter().filter_map(|s| Secret::parse(s)).collect();
        let timestamp = i64::try_from(clock::unix_now()).unwrap_or(i64::MAX);
        let body = d.message.payload.as_bytes();
        let signature = signature_header(&secrets, &d.message.message_id, timestamp, body);
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("user-agent", "carehub-webhooks".to_owned()),
            ("webhook-id", d.message.message_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        let fields = Fields::new();
        for (name, value) in headers {
            if let Err(e) = fields.append(name, &value.into_bytes()) {
                return failed(attempted_at, format!("header {name}: {e:?}"));
            }
        }
        let request = OutgoingRequest::new(fields);
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::Https,
            _ => Scheme::Http,
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        if request.set_method(&Method::Post).is_err()
            || request.set_scheme(Some(&scheme)).is_err()
            || request
                .set_authority(uri.authority().map(|a| a.as_str()))
                .is_err()
            || request.set_path_with_query(Some(path)).is_err()
        {
            return failed(attempted_at, "the request could not be built".into());
        }
        let Ok(outgoing) = request.body() else {
            return failed(attempted_at, "no request body".into());
        };
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_NS));
        let _ = options.set_first_byte_timeout(Some(ANSWER_TIMEOUT_NS));
        let _ = options.set_between_bytes_timeout(Some(ANSWER_TIMEOUT_NS));
        let future = match outgoing_handler::handle(request, Some(options)) {
            Ok(f) => f,
            Err(e) => return failed(attempted_at, format!("{e:?}")),
        };
        // Write the body after the request is handed over, as wasi:http asks.
        {
            let Ok(stream) = outgoing.write() else {
                return failed(attempted_at, "the body stream was refused".into());
            };
            for chunk in body.chunks(4096) {
                if let Err(e) = stream.blocking_write_and_flush(chunk) {
                    return failed(attempted_at, format!("writing the body: {e:?}"));
                }
            }
        }
        if let Err(e) = OutgoingBody::finish(outgoing, None) {
            return failed(attempted_at, format!("finishing the body: {e:?}"));
        }
        InFlight {
            future: Some(future),
            started: Instant::now(),
            attempted_at,
            result: None,
        }
    }

    /// Delivers every claimed message concurrently and waits for each
    /// answer (or its timeout). Returns one attempt per delivery, in order.
    fn deliver_all(deliveries: &[Delivery]) -> Vec<AttemptRecord> {
        let mut flights: Vec<InFlight> = deliveries.iter().map(start).collect();
        loop {
            let waiting: Vec<usize> = flights
                .iter()
                .enumerate()
                .filter(|(_, f)| f.result.is_none())
                .map(|(i, _)| i)
                .collect();
            if waiting.is_empty() {
                break;
            }
            let pollables: Vec<_> = waiting
                .iter()
                .map(|&i| {
                    flights[i]
                        .future
                        .as_ref()
                        .expect("waiting has a future")
                        .subscribe()
                })
                .collect();
            let refs: Vec<&_> = pollables.iter().collect();
            let ready = wasi::io::poll::poll(&refs);
            drop(refs);
            drop(pollables);
            for r in ready {
                let i = waiting[r as usize];
                let f = &mut flights[i];
                let Some(answer) = f.future.as_ref().and_then(|fut| fut.get()) else {
                    continue;
                };
                f.result = Some(match answer {
                    Ok(Ok(resp)) => (Some(resp.status()), None),
                    Ok(Err(code)) => (None, Some(format!("{code:?}"))),
                    Err(()) => (None, Some("the answer was already taken".into())),
                });
                f.future = None;
            }
        }
        flights
            .into_iter()
            .map(|f| {
                let (status, error) = f.result.unwrap_or((None, Some("no answer".into())));
                AttemptRecord {
                    attempted_at: f.attempted_at,
                    status,
                    error: error.map(|e| e.chars().take(300).collect()),
                    duration_ms: i64::try_from(f.started.elapsed().as_millis()).unwrap_or(0),
                    outcome: attempt_outcome(status),
                }
            })
            .collect()
    }
}
