//! Reading a JSON request object field by field into domain types.
//!
//! Every error names the field by its JSON pointer and never echoes the
//! rejected value (bodies carry names and identifiers: personal data).
//! Unknown fields are refused, so that a misspelt optional field is not
//! silently ignored.

use std::str::FromStr;

use carehub_domain::Problem;
use serde_json::{Map, Value};

use crate::problem::invalid_request_problem;

/// A JSON object being read, with its pointer in the body.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    map: &'a Map<String, Value>,
    base: &'a str,
}

/// Escapes a member name for a JSON pointer (RFC 6901).
pub fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

impl<'a> Object<'a> {
    /// The object at `pointer` (`""` for the body); 400 unless `value` is an
    /// object whose members are all in `allowed`.
    pub fn new(value: &'a Value, pointer: &'a str, allowed: &[&str]) -> Result<Self, Problem> {
        let Value::Object(map) = value else {
            return Err(invalid_request_problem(pointer, "must be a JSON object"));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let shown: String = unknown.chars().take(40).collect();
            return Err(invalid_request_problem(
                &format!("{pointer}/{}", escape_pointer(&shown)),
                format!("unknown field; accepted: {}", allowed.join(", ")),
            ));
        }
        Ok(Object { map, base: pointer })
    }

    /// The pointer of member `name`.
    pub fn pointer(&self, name: &str) -> String {
        format!("{}/{}", self.base, escape_pointer(name))
    }

    /// The raw member, `None` when absent or null.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn required<T>(&self, name: &str, value: Option<T>) -> Result<T, Problem> {
        value.ok_or_else(|| invalid_request_problem(&self.pointer(name), "required"))
    }

    /// An optional string member.
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, Problem> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid_request_problem(
                &self.pointer(name),
                "must be a string",
            )),
        }
    }

    /// A required string member.
    pub fn str(&self, name: &str) -> Result<&'a str, Problem> {
        let v = self.opt_str(name)?;
        self.required(name, v)
    }

    /// A required boolean member.
    pub fn bool(&self, name: &str) -> Result<bool, Problem> {
        match self.get(name) {
            None => Err(invalid_request_problem(&self.pointer(name), "required")),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(invalid_request_problem(
                &self.pointer(name),
                "must be true or false",
            )),
        }
    }

    /// An optional member naming one of a closed set (`names`).
    pub fn opt_enum<T: FromStr>(&self, name: &str, names: &[&str]) -> Result<Option<T>, Problem> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| {
                invalid_request_problem(
                    &self.pointer(name),
                    format!("unknown value; expected one of: {}", names.join(", ")),
                )
            }),
        }
    }

    /// A required member naming one of a closed set (`names`).
    pub fn enumerated<T: FromStr>(&self, name: &str, names: &[&str]) -> Result<T, Problem> {
        let v = self.opt_enum(name, names)?;
        self.required(name, v)
    }

    /// A required member holding an identifier, parsed by `parse`.
    pub fn id<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, carehub_domain::IdError>,
    ) -> Result<T, Problem> {
        let s = self.str(name)?;
        parse(s).map_err(|e| crate::problem::invalid_identifier_problem(&self.pointer(name), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_domain::{ConsentMethod, InsurerNumber};
    use serde_json::json;

    fn pointer_and_detail(p: Problem) -> (String, String) {
        (p.violations[0].pointer.clone(), p.detail)
    }

    #[test]
    fn reads_members_and_names_the_bad_one() {
        let v = json!({"a": "x", "b": true, "m": "paper_form", "n": null, "i": "131016"});
        let o = Object::new(&v, "", &["a", "b", "m", "n", "i"]).unwrap();
        assert_eq!(o.str("a").unwrap(), "x");
        assert!(o.bool("b").unwrap());
        assert_eq!(o.opt_str("n").unwrap(), None);
        assert_eq!(
            o.enumerated::<ConsentMethod>("m", &ConsentMethod::NAMES)
                .unwrap(),
            ConsentMethod::PaperForm
        );
        assert_eq!(o.id("i", InsurerNumber::parse).unwrap().as_str(), "131016");
        let (ptr, _) = pointer_and_detail(o.str("n").unwrap_err());
        assert_eq!(ptr, "/n");
        let (ptr, detail) = pointer_and_detail(o.bool("a").unwrap_err());
        assert_eq!(ptr, "/a");
        assert!(!detail.contains('x'));
        let (ptr, _) = pointer_and_detail(
            o.enumerated::<ConsentMethod>("a", &ConsentMethod::NAMES)
                .unwrap_err(),
        );
        assert_eq!(ptr, "/a");
    }

    #[test]
    fn refuses_unknown_members_and_non_objects() {
        let v = json!({"by": {"type": "person", "a/b": 1}});
        let outer = Object::new(&v, "", &["by"]).unwrap();
        let (ptr, detail) = pointer_and_detail(
            Object::new(outer.get("by").unwrap(), "/by", &["type"]).unwrap_err(),
        );
        assert_eq!(ptr, "/by/a~1b");
        assert!(detail.contains("unknown field"));
        let (ptr, _) = pointer_and_detail(Object::new(&json!([1]), "", &[]).unwrap_err());
        assert_eq!(ptr, "");
    }
}
