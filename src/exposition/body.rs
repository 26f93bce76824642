//! The response body type of every endpoint: whole bytes, a list of ready parts (a compressed
//! scrape), or a scrape written chunk by chunk as the connection takes it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Bytes, Frame, SizeHint};

/// Writes a body's next chunk on demand: `None` when there is no more.
pub trait Chunks: Send + Unpin {
    /// The next chunk, or `None` at the end.
    fn next_chunk(&mut self) -> Option<Bytes>;
}

/// A response body.
pub enum Body {
    /// Bytes known in full; `None` once sent.
    Full(Option<Bytes>),
    /// Parts known in full, sent one after another without copying them together.
    Parts(VecDeque<Bytes>),
    /// Written as the connection reads it: memory stays one chunk however large the body.
    Streamed(Box<dyn Chunks>),
}

impl Body {
    /// A body of these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body::Full(Some(bytes.into()))
    }

    /// An empty body (HEAD).
    pub fn empty() -> Body {
        Body::Full(None)
    }

    /// Every byte of the body, for tests and benchmarks.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Body::Full(bytes) => bytes.map(|b| b.to_vec()).unwrap_or_default(),
            Body::Parts(parts) => parts.into_iter().flatten().collect(),
            Body::Streamed(mut chunks) => {
                let mut out = Vec::new();
                while let Some(chunk) = chunks.next_chunk() {
                    out.extend_from_slice(&chunk);
                }
                out
            }
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            Body::Full(bytes) => bytes.take(),
            Body::Parts(parts) => parts.pop_front(),
            Body::Streamed(chunks) => chunks.next_chunk(),
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(bytes) => bytes.is_none(),
            Body::Parts(parts) => parts.is_empty(),
            Body::Streamed(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Parts(parts) => SizeHint::with_exact(parts.iter().map(|b| b.len() as u64).sum()),
            Body::Streamed(_) => SizeHint::default(),
        }
    }
}
