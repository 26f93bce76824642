//! The response body type of every endpoint: whole bytes, a list of ready parts (a compressed
//! scrape), or a scrape written chunk by chunk as the connection takes it.
//!
//! Ready parts are shared, not owned: a compressed scrape is mostly the cache's families, one
//! buffer each, which every concurrent scrape sends from the same memory. Large parts go to the
//! connection as they are; small ones (a short family, the scrape's own text) are copied
//! together as the connection takes them, one piece of about [`PIECE_BYTES`] at a time, so the
//! connection writes a few large buffers, and a scrape holds one piece of its own however large
//! its body.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Bytes, Frame, SizeHint};

/// The size of the pieces ready parts are sent in.
pub const PIECE_BYTES: usize = 64 * 1024;

/// Writes a body's next chunk on demand: `None` when there is no more.
pub trait Chunks: Send + Unpin {
    /// The next chunk, or `None` at the end.
    fn next_chunk(&mut self) -> Option<Bytes>;
}

/// A response body.
pub enum Body {
    /// Bytes known in full; `None` once sent.
    Full(Option<Bytes>),
    /// Parts known in full, sent in order: a large part as it is, small ones copied together
    /// into pieces of about [`PIECE_BYTES`] as they are sent.
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

/// The next piece of `parts`: the first part alone when it is large, else the parts that fit
/// in [`PIECE_BYTES`] copied together (at least one).
fn next_piece(parts: &mut VecDeque<Bytes>) -> Option<Bytes> {
    let first = parts.pop_front()?;
    if first.len() >= PIECE_BYTES / 2 || parts.is_empty() {
        return Some(first);
    }
    let mut piece = Vec::with_capacity(PIECE_BYTES);
    piece.extend_from_slice(&first);
    while let Some(next) = parts.front() {
        if piece.len() + next.len() > PIECE_BYTES {
            break;
        }
        piece.extend_from_slice(next);
        parts.pop_front();
    }
    Some(piece.into())
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
            Body::Parts(parts) => next_piece(parts),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pieces(mut body: Body) -> Vec<Bytes> {
        std::iter::from_fn(|| match &mut body {
            Body::Parts(parts) => next_piece(parts),
            _ => unreachable!(),
        })
        .collect()
    }

    /// Thousands of small parts (a family's lines per chunk) go out in a few large pieces, in
    /// order and whole; a large part goes out as it is, without a copy.
    #[test]
    fn small_parts_are_sent_in_few_pieces_and_large_ones_as_they_are() {
        let mut parts: VecDeque<Bytes> = (0..3_000)
            .map(|i| Bytes::from(format!("series{{chunk=\"{i}\"}} {}\n", i * 7)))
            .collect();
        let large = Bytes::from(vec![b'x'; PIECE_BYTES * 2]);
        parts.insert(1_500, large.clone());
        let all: Vec<u8> = parts.iter().flatten().copied().collect();
        let sent = pieces(Body::Parts(parts));
        assert_eq!(sent.iter().flatten().copied().collect::<Vec<u8>>(), all);
        assert!(
            sent.len() <= 3 + all.len() / (PIECE_BYTES / 2),
            "{} pieces for {} bytes",
            sent.len(),
            all.len()
        );
        assert!(
            sent.iter()
                .all(|p| p.len() <= PIECE_BYTES || p.len() == large.len())
        );
        let shared = sent.iter().find(|p| p.len() == large.len()).unwrap();
        assert_eq!(shared.as_ptr(), large.as_ptr(), "the large part was copied");
    }
}
