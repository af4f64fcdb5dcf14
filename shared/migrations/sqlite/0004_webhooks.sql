-- carehub schema 0004: webhooks (DESIGN §8) — the transactional outbox,
-- subscriptions, messages and delivery attempts.
--
-- Applied once by the gateway (recorded in carehub_migrations). Portable SQL:
-- the PostgreSQL twin differs only in column types. Times that are compared
-- (schedules, leases, secret expiry) are integer milliseconds since the Unix
-- epoch; times that are shown are RFC 3339 UTC text.

-- The outbox: one row per state change, appended by the store in the same
-- transaction as the change (document stored, consent, registration,
-- progress, submission state). Facts only — ids and states, never content.
CREATE TABLE webhook_events (
    seq            INTEGER PRIMARY KEY,
    event_type     TEXT    NOT NULL,
    insurer_number TEXT    NOT NULL,
    insured_number TEXT    NOT NULL,
    facts          TEXT    NOT NULL,  -- JSON of carehub_domain::webhook::EventFacts
    occurred_at    TEXT    NOT NULL
) STRICT;

CREATE TRIGGER webhook_events_are_append_only_update
BEFORE UPDATE ON webhook_events
BEGIN
    SELECT RAISE(ABORT, 'the outbox is append-only');
END;

CREATE TRIGGER webhook_events_are_append_only_delete
BEFORE DELETE ON webhook_events
BEGIN
    SELECT RAISE(ABORT, 'the outbox is append-only');
END;

-- An endpoint registered by the portal or a municipality.
CREATE TABLE webhook_subscriptions (
    seq                  INTEGER PRIMARY KEY,
    subscription_id      TEXT    NOT NULL UNIQUE,  -- ep_ + 32 hex
    owner                TEXT    NOT NULL,         -- principal URN
    url                  TEXT    NOT NULL,
    event_types          TEXT    NOT NULL,         -- space-separated event types
    secret               TEXT    NOT NULL,         -- whsec_…
    previous_secret      TEXT,                     -- signs too until previous_expires_ms
    previous_expires_ms  INTEGER,
    -- Events with seq above this are fanned out to the subscription; it
    -- starts at the outbox head when the subscription is registered.
    fanout_seq           INTEGER NOT NULL,
    disabled_at          TEXT,
    disabled_reason      TEXT,
    created_at           TEXT    NOT NULL
) STRICT;

CREATE INDEX webhook_subscriptions_by_owner ON webhook_subscriptions (owner, seq);

-- One event for one subscription: the unit of delivery (webhook-id).
CREATE TABLE webhook_messages (
    seq              INTEGER PRIMARY KEY,
    message_id       TEXT    NOT NULL UNIQUE,  -- msg_ + 32 hex
    subscription_seq INTEGER NOT NULL REFERENCES webhook_subscriptions (seq),
    event_seq        INTEGER NOT NULL REFERENCES webhook_events (seq),
    event_type       TEXT    NOT NULL,
    payload          TEXT    NOT NULL,  -- the exact body delivered
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,  -- every attempt, redeliveries included
    failures         INTEGER NOT NULL DEFAULT 0,  -- failures since the last (re)schedule
    next_attempt_ms  INTEGER NOT NULL,
    lease_until_ms   INTEGER NOT NULL DEFAULT 0,  -- claimed by a dispatcher run until then
    created_at       TEXT    NOT NULL,
    delivered_at     TEXT,
    UNIQUE (subscription_seq, event_seq)
) STRICT;

-- Due messages, in order.
CREATE INDEX webhook_messages_due ON webhook_messages (state, next_attempt_ms, seq);
CREATE INDEX webhook_messages_by_subscription ON webhook_messages (subscription_seq, seq);

-- Every delivery attempt, append-only: what the API shows.
CREATE TABLE webhook_attempts (
    seq          INTEGER PRIMARY KEY,
    message_seq  INTEGER NOT NULL REFERENCES webhook_messages (seq),
    attempted_at TEXT    NOT NULL,
    status       INTEGER,           -- the receiver's HTTP status; NULL: no answer
    error        TEXT,              -- why there was no answer
    duration_ms  INTEGER NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('delivered', 'gone', 'failed'))
) STRICT;

CREATE INDEX webhook_attempts_by_message ON webhook_attempts (message_seq, seq);

CREATE TRIGGER webhook_attempts_are_append_only_update
BEFORE UPDATE ON webhook_attempts
BEGIN
    SELECT RAISE(ABORT, 'delivery attempts are append-only');
END;

CREATE TRIGGER webhook_attempts_are_append_only_delete
BEFORE DELETE ON webhook_attempts
BEGIN
    SELECT RAISE(ABORT, 'delivery attempts are append-only');
END;
