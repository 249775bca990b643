//! The envelopes every resource answers in: `{"result": ...}`, and a body
//! assembled from parts.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use serde::Serialize;

/// `{"result": item}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct One<T> {
    result: T,
}

impl<T: Serialize> One<T> {
    pub fn of(result: T) -> Self {
        Self { result }
    }
}

/// `{"result": [items]}`.
#[derive(Serialize, utoipa::ToSchema)]
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

/// A body sent part by part as it was rendered, with its length known
/// up front, keeping `guard` until the last part is out (or the client is
/// gone): parts are never joined into one buffer, which would hold the
/// answer twice, and what the guard limits lasts as long as the answer.
pub struct Parts<G> {
    parts: VecDeque<Bytes>,
    size: u64,
    _guard: G,
}

impl<G> Parts<G> {
    pub fn new(parts: impl IntoIterator<Item = Bytes>, guard: G) -> Self {
        let parts: VecDeque<Bytes> = parts.into_iter().collect();
        let size = parts.iter().map(|p| p.len() as u64).sum();
        Self {
            parts,
            size,
            _guard: guard,
        }
    }
}

impl<G: Unpin> MessageBody for Parts<G> {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.size)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        Poll::Ready(self.get_mut().parts.pop_front().map(Ok))
    }
}
