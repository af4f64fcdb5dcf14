//! `fermyon:spin/variables@2.0.0`: a component reads only the variables its
//! `[component.<id>.variables]` table declares, resolved once at start.

use super::bindings::fermyon::spin::variables::{self, Error};
use crate::error::{Doing, Result};
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Per-instance state: the component's resolved variables.
pub struct VariablesView<'a> {
    /// Name → value.
    pub values: &'a Arc<HashMap<String, String>>,
}

struct VariablesData;
impl HasData for VariablesData {
    type Data<'a> = VariablesView<'a>;
}

/// Adds `fermyon:spin/variables` to a linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> VariablesView<'_>,
) -> Result<()> {
    variables::add_to_linker::<T, VariablesData>(linker, get)
        .doing(|| "adding fermyon:spin/variables to the linker".into())
}

impl variables::Host for VariablesView<'_> {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        if crate::variables::check_name(&name).is_err() {
            return Ok(Err(Error::InvalidName(name)));
        }
        Ok(self
            .values
            .get(&name)
            .cloned()
            .ok_or(Error::Undefined(name)))
    }
}
