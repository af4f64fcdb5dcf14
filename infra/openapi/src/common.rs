//! The skeletons every operation repeats: `$ref`s, the operation and
//! response builders (the `Idempotent-Replayed` header, `Location`, the
//! problem responses every route can answer), request bodies, paged lists,
//! and sizes in words.

use serde_json::{Map, Value, json};

/// A reference to a schema under `#/components/schemas`.
pub fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A reference to a parameter under `#/components/parameters`.
pub fn param(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

/// A reference to the shared problem response for `status`
/// (`#/components/responses/Problem<status>`).
pub fn problem(status: u16) -> Value {
    json!({ "$ref": format!("#/components/responses/Problem{status}") })
}

/// The person named in the path: `insurer_number`, `insured_number`.
pub fn person_params() -> [Value; 2] {
    [param("InsurerNumberPath"), param("InsuredNumberPath")]
}

/// A page of a list: `limit`, `cursor`.
pub fn page_params() -> [Value; 2] {
    [param("Limit"), param("Cursor")]
}

/// Statuses any route can answer: identity (the edge and the assertion),
/// routing, the gateway's limits, internal errors.
pub const COMMON: &[u16] = &[401, 403, 404, 405, 500, 503, 504];
/// A read's own refusal: a malformed parameter.
pub const READ: &[u16] = &[400];
/// A JSON write's own refusals: malformed, conflict, too large, not JSON,
/// invalid.
pub const WRITE: &[u16] = &[400, 409, 413, 415, 422];
/// A JSON write that answers no 422 of its own: [`WRITE`] without it.
pub const WRITE_UNCHECKED: &[u16] = &[400, 409, 413, 415];

/// The `Idempotent-Replayed` response header: `true` on a replayed answer.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// What a `next_cursor` is.
const NEXT_CURSOR: &str = "Pass as `cursor` for the next page; null on the last page.";

/// A required request body of one media type.
pub fn body_of(media: &str, schema: Value) -> Value {
    json!({ "required": true, "content": { media: { "schema": schema } } })
}

/// A required JSON request body.
pub fn json_body(schema: Value) -> Value {
    body_of("application/json", schema)
}

/// An object schema: `required` in the order given, then the properties.
pub fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

/// [`object`] closed to other properties (`additionalProperties: false`).
pub fn closed(required: &[&str], properties: Value) -> Value {
    let mut schema = object(required, properties);
    schema["additionalProperties"] = json!(false);
    schema
}

/// The keys of a JSON object, in the document's (sorted) order.
pub fn keys(object: &Value) -> Vec<String> {
    object
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A page of a list: the `lead` properties (e.g. the person), the `items`
/// array under its name, and `next_cursor`; all required.
pub fn page(lead: &[(&str, Value)], items: &str, item: Value) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<&str> = Vec::new();
    for (name, schema) in lead {
        properties.insert((*name).into(), schema.clone());
        required.push(name);
    }
    properties.insert(items.into(), json!({ "type": "array", "items": item }));
    properties.insert(
        "next_cursor".into(),
        json!({ "type": ["string", "null"], "description": NEXT_CURSOR }),
    );
    required.extend([items, "next_cursor"]);
    object(&required, Value::Object(properties))
}

/// A string matching an id pattern, e.g. `id("app")` for `app_` and 32 hex
/// digits.
pub fn id(prefix: &str) -> Value {
    json!({ "type": "string", "pattern": format!("^{prefix}_[0-9a-f]{{32}}$") })
}

/// An RFC 3339 date-time string.
pub fn date_time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

/// An RFC 3339 date-time string or null.
pub fn date_time_or_null() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time" })
}

/// `value` with a description.
pub fn described(mut value: Value, description: &str) -> Value {
    value["description"] = json!(description);
    value
}

/// An object schema whose every property is required (in key order).
pub fn all_required(properties: Value) -> Value {
    let required = keys(&properties);
    let required: Vec<&str> = required.iter().map(String::as_str).collect();
    object(&required, properties)
}

/// `base` (an object schema) with more properties, required after its own.
pub fn extended(base: &Value, more: &[(&str, Value)]) -> Value {
    let mut out = base.clone();
    for (name, schema) in more {
        out["properties"][*name] = schema.clone();
        out["required"]
            .as_array_mut()
            .expect("an object schema lists its required properties")
            .push(json!(name));
    }
    out
}

/// A path parameter (required) with its schema.
pub fn path_param(name: &str, description: Option<&str>, schema: Value) -> Value {
    let mut p = json!({ "name": name, "in": "path", "required": true, "schema": schema });
    if let Some(d) = description {
        p["description"] = json!(d);
    }
    p
}

/// An optional query parameter with its schema.
pub fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

/// One variant of a `oneOf`: a [`closed`] object with a title.
pub fn variant(title: &str, required: &[&str], properties: Value) -> Value {
    let mut v = closed(required, properties);
    v["title"] = json!(title);
    v
}

/// A map from a `json!` object.
pub fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// One answer of an operation.
#[derive(Debug, Clone)]
pub struct Response(Value);

impl Response {
    /// A JSON answer of `schema`.
    pub fn json(description: &str, schema: Value) -> Self {
        Self::of("application/json", description, schema)
    }

    /// An answer of `schema` in `media`.
    pub fn of(media: &str, description: &str, schema: Value) -> Self {
        Response(json!({
            "description": description,
            "content": { media: { "schema": schema } },
        }))
    }

    /// With a `Location` header: where the thing created is.
    pub fn location(self, description: &str) -> Self {
        self.header("Location", description)
    }

    /// With the [`REPLAYED`] header of an idempotent write.
    pub fn replayed(self) -> Self {
        self.header(
            REPLAYED,
            "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.",
        )
    }

    fn header(mut self, name: &str, description: &str) -> Self {
        self.0["headers"][name] =
            json!({ "description": description, "schema": { "type": "string" } });
        self
    }
}

/// One operation, built up and finished into its OpenAPI object by
/// [`path`]. Every operation says who may call it ([`Op::who`]) and answers
/// the [`COMMON`] problems besides its own.
#[derive(Debug, Clone)]
pub struct Op {
    method: &'static str,
    fields: Map<String, Value>,
    about: String,
    who: String,
    responses: Map<String, Value>,
}

impl Op {
    /// A `GET` operation.
    pub fn get(id: &str, tag: &str, summary: &str) -> Self {
        Self::new("get", id, tag, summary)
    }

    /// A `POST` operation.
    pub fn post(id: &str, tag: &str, summary: &str) -> Self {
        Self::new("post", id, tag, summary)
    }

    fn new(method: &'static str, id: &str, tag: &str, summary: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("operationId".into(), json!(id));
        fields.insert("tags".into(), json!([tag]));
        fields.insert("summary".into(), json!(summary));
        Op {
            method,
            fields,
            about: String::new(),
            who: String::new(),
            responses: Map::new(),
        }
    }

    /// What the operation does and how it refuses: the description's first
    /// paragraphs.
    pub fn about(mut self, text: impl Into<String>) -> Self {
        self.about = text.into();
        self
    }

    /// Who may call it (from [`crate::callers`]): the description's last
    /// paragraph.
    pub fn who(mut self, text: String) -> Self {
        self.who = text;
        self
    }

    /// The portal may call it with a person token as well as without.
    pub fn person_token(mut self) -> Self {
        self.fields.insert(
            "security".into(),
            json!([{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }]),
        );
        self
    }

    /// Its parameters, in order.
    pub fn params(mut self, params: impl IntoIterator<Item = Value>) -> Self {
        self.fields
            .insert("parameters".into(), params.into_iter().collect());
        self
    }

    /// Its request body ([`json_body`], [`body_of`]).
    pub fn body(mut self, body: Value) -> Self {
        self.fields.insert("requestBody".into(), body);
        self
    }

    /// An answer for `status`.
    pub fn answers(mut self, status: u16, response: Response) -> Self {
        self.responses.insert(status.to_string(), response.0);
        self
    }

    /// Problems it answers besides the [`COMMON`] ones.
    pub fn problems(mut self, statuses: &[u16]) -> Self {
        for &status in statuses {
            self.responses.insert(status.to_string(), problem(status));
        }
        self
    }

    fn finish(mut self) -> Value {
        assert!(
            !self.who.is_empty(),
            "{}: every operation says who may call it",
            self.fields["operationId"]
        );
        let mut fields = self.fields;
        let description = if self.about.is_empty() {
            self.who
        } else {
            format!("{}\n\n{}", self.about, self.who)
        };
        fields.insert("description".into(), json!(description));
        for &status in COMMON {
            self.responses.insert(status.to_string(), problem(status));
        }
        fields.insert("responses".into(), Value::Object(self.responses));
        Value::Object(fields)
    }
}

/// A path and its operations.
pub fn path(path: String, ops: impl IntoIterator<Item = Op>) -> (String, Value) {
    let item: Map<String, Value> = ops
        .into_iter()
        .map(|op| (op.method.to_owned(), op.finish()))
        .collect();
    (path, Value::Object(item))
}

/// A size in bytes as the document writes it: "1 MiB", "64 KiB", else
/// bytes with thousands separators.
pub fn size(bytes: usize) -> String {
    const KIB: usize = 1 << 10;
    const MIB: usize = 1 << 20;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{} bytes", count(bytes))
    }
}

/// A number with thousands separators: "100,000".
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The sentence that states a body limit.
pub fn body_limit(bytes: usize) -> String {
    format!("Body limit {}.", size(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts_in_words() {
        assert_eq!(size(1 << 20), "1 MiB");
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(256 << 10), "256 KiB");
        assert_eq!(size(1500), "1,500 bytes");
        assert_eq!(count(100_000), "100,000");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000_000), "1,000,000");
    }
}
