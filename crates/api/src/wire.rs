//! The envelopes every resource answers in: `{"result": ...}`.

use serde::Serialize;

/// `{"result": item}`.
#[derive(Serialize)]
pub struct One<T> {
    result: T,
}

impl<T: Serialize> One<T> {
    pub fn of(result: T) -> Self {
        Self { result }
    }
}

/// `{"result": [items]}`.
#[derive(Serialize)]
pub struct Many<T> {
    result: Vec<T>,
}

impl<T: Serialize> Many<T> {
    pub fn of(items: impl IntoIterator<Item = T>) -> Self {
        Self {
            result: items.into_iter().collect(),
        }
    }
}
