//! Turning a cluster's [`Fault`] into what the request gets: an Atlas error, a delay, or a
//! broken body. Applied after authentication and after the cluster is found, before the kind
//! check, so a faulty cluster fails the same way on every endpoint (as an outage would).

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use super::errors::ApiError;
use super::ratelimit::rate_limited;
use super::scenario::{Fault, RateLimit};

/// What a fault does to one request.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Answer with this error instead; `retry_after` is set for 429s.
    Error {
        error: ApiError,
        retry_after: Option<u64>,
    },
    /// Answer normally after this delay.
    Delay(Duration),
    /// Answer 200 with a truncated body.
    Malformed,
}

/// Everything a fault's error may mention.
pub(crate) struct FaultContext<'a> {
    pub(crate) group: &'a str,
    pub(crate) cluster: &'a str,
    pub(crate) path: &'a str,
    pub(crate) peer: IpAddr,
    pub(crate) limits: &'a RateLimit,
}

/// Applies `fault` to one request, updating it in place: a `RateLimited` fault with `remaining`
/// counts down and clears itself when it reaches zero.
pub(crate) fn apply(fault: &mut Option<Fault>, ctx: &FaultContext<'_>) -> Option<Effect> {
    let effect = match fault.as_mut()? {
        Fault::NotFound => error(ApiError::cluster_not_found(ctx.group, ctx.cluster)),
        Fault::ServerError => error(ApiError::unexpected_error()),
        Fault::Forbidden => error(ApiError::ip_not_on_access_list(&ctx.peer.to_string())),
        Fault::NotInGroup => error(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "NOT_IN_GROUP",
            "The current user is not in the group, or the group does not exist.",
            vec![],
        )),
        Fault::HostileErrorBody => error(hostile_error()),
        Fault::MalformedJson => Effect::Malformed,
        Fault::Slow(delay) => Effect::Delay(*delay),
        Fault::RateLimited {
            retry_after_secs,
            remaining,
        } => {
            let retry_after = *retry_after_secs;
            match remaining {
                Some(0) => {
                    *fault = None;
                    return None;
                }
                Some(n) => {
                    *n -= 1;
                    if *n == 0 {
                        *fault = None;
                    }
                }
                None => {}
            }
            Effect::Error {
                error: rate_limited(ctx.path, retry_after, ctx.limits),
                retry_after: Some(retry_after),
            }
        }
    };
    Some(effect)
}

/// How long each huge field of [`Fault::HostileErrorBody`] is: 8 MiB, as in the answer that
/// once made a 16.8 MB log line per poll.
pub(crate) const HOSTILE_FIELD_BYTES: usize = 8 * 1024 * 1024;

/// The error of [`Fault::HostileErrorBody`]. Its code is built once per process (an
/// [`ApiError`]'s code is `'static`) and is too long for the `X-Error-Code` header, so only the
/// body carries it.
fn hostile_error() -> ApiError {
    static HUGE: OnceLock<String> = OnceLock::new();
    let huge: &'static str = HUGE.get_or_init(|| "HOSTILE_".repeat(HOSTILE_FIELD_BYTES / 8));
    let mut parameters = vec![json!(huge)];
    parameters.extend((0..5000).map(|i| json!(i)));
    ApiError::new(StatusCode::BAD_REQUEST, huge, huge, parameters)
}

fn error(error: ApiError) -> Effect {
    Effect::Error {
        error,
        retry_after: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ctx(limits: &RateLimit) -> FaultContext<'_> {
        FaultContext {
            group: "g",
            cluster: "c",
            path: "/p",
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
            limits,
        }
    }

    #[test]
    fn a_counted_rate_limit_clears_itself() {
        let limits = RateLimit::atlas_default();
        let mut fault = Some(Fault::RateLimited {
            retry_after_secs: 3,
            remaining: Some(2),
        });
        assert!(matches!(
            apply(&mut fault, &ctx(&limits)),
            Some(Effect::Error {
                retry_after: Some(3),
                ..
            })
        ));
        assert!(fault.is_some());
        assert!(matches!(
            apply(&mut fault, &ctx(&limits)),
            Some(Effect::Error { .. })
        ));
        assert!(fault.is_none());
        assert!(apply(&mut fault, &ctx(&limits)).is_none());
    }

    #[test]
    fn an_endless_rate_limit_stays() {
        let limits = RateLimit::atlas_default();
        let mut fault = Some(Fault::RateLimited {
            retry_after_secs: 1,
            remaining: None,
        });
        for _ in 0..5 {
            assert!(apply(&mut fault, &ctx(&limits)).is_some());
        }
        assert!(fault.is_some());
    }

    #[test]
    fn a_hostile_error_body_has_huge_fields() {
        let limits = RateLimit::atlas_default();
        let mut fault = Some(Fault::HostileErrorBody);
        let Some(Effect::Error { error, .. }) = apply(&mut fault, &ctx(&limits)) else {
            panic!("expected an error");
        };
        let body = error.body();
        assert_eq!(
            body["errorCode"].as_str().unwrap().len(),
            HOSTILE_FIELD_BYTES
        );
        assert_eq!(body["detail"].as_str().unwrap().len(), HOSTILE_FIELD_BYTES);
        assert_eq!(body["parameters"].as_array().unwrap().len(), 5001);
        let response = error.into_response();
        assert_eq!(response.status(), 400);
        assert!(
            response
                .headers()
                .get(super::super::errors::X_ERROR_CODE)
                .is_none()
        );
    }

    #[test]
    fn forbidden_names_the_caller() {
        let limits = RateLimit::atlas_default();
        let mut fault = Some(Fault::Forbidden);
        let Some(Effect::Error { error, .. }) = apply(&mut fault, &ctx(&limits)) else {
            panic!("expected an error");
        };
        assert_eq!(error.body()["parameters"][0], "127.0.0.1");
        assert_eq!(error.status.as_u16(), 403);
    }
}
