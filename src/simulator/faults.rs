//! Turning a cluster's [`Fault`] into what the request gets: an Atlas error, a delay, or a
//! broken body. Applied after authentication and after the cluster is found, before the kind
//! check, so a faulty cluster fails the same way on every endpoint (as an outage would).
//! A [`Fault::Random`] first draws, per request, which of its transient faults (if any) applies.

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

/// Applies `fault` to one request like [`apply`], and names the fault a [`Fault::Random`] drew
/// for it, if any, for `Stats::faults_injected`.
pub(crate) fn apply_drawn(
    fault: &mut Option<Fault>,
    ctx: &FaultContext<'_>,
) -> (Option<Effect>, Option<&'static str>) {
    let Some(Fault::Random { seed, probability }) = fault else {
        return (apply(fault, ctx), None);
    };
    match draw(seed, *probability) {
        Some((name, drawn)) => (apply(&mut Some(drawn), ctx), Some(name)),
        None => (None, None),
    }
}

/// One request's draw of a [`Fault::Random`]: `None` for the normal answer, else the fault and
/// its name. Advances `seed`.
fn draw(seed: &mut u64, probability: f64) -> Option<(&'static str, Fault)> {
    let mut rng = fastrand::Rng::with_seed(*seed);
    *seed = rng.u64(..);
    let probability = if probability.is_nan() {
        0.0
    } else {
        probability.clamp(0.0, 1.0)
    };
    // Draw every number up front, so the probability never shifts the stream.
    let hit = rng.f64();
    let pick = rng.u8(0..4);
    let slow_ms = rng.u64(50..=400);
    if hit >= probability {
        return None;
    }
    Some(match pick {
        0 => ("server_error", Fault::ServerError),
        1 => ("malformed_json", Fault::MalformedJson),
        2 => (
            "rate_limited",
            Fault::RateLimited {
                retry_after_secs: 1,
                remaining: Some(1),
            },
        ),
        _ => ("slow", Fault::Slow(Duration::from_millis(slow_ms))),
    })
}

/// Applies `fault` to one request, updating it in place: a `RateLimited` fault with `remaining`
/// counts down and clears itself when it reaches zero; a `Random` one draws (see [`apply_drawn`]).
pub(crate) fn apply(fault: &mut Option<Fault>, ctx: &FaultContext<'_>) -> Option<Effect> {
    let effect = match fault.as_mut()? {
        Fault::Random { .. } => return apply_drawn(fault, ctx).0,
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
    fn random_faults_follow_the_seed_and_the_probability() {
        let limits = RateLimit::atlas_default();
        let run = |seed: u64, probability: f64| {
            let mut fault = Some(Fault::random(seed, probability));
            (0..400)
                .map(|_| apply_drawn(&mut fault, &ctx(&limits)).1)
                .collect::<Vec<_>>()
        };
        let a = run(7, 0.5);
        assert_eq!(a, run(7, 0.5));
        assert_ne!(a, run(8, 0.5));
        let hits = a.iter().flatten().count();
        assert!((120..=280).contains(&hits), "{hits} of 400");
        for name in ["server_error", "malformed_json", "rate_limited", "slow"] {
            assert!(a.contains(&Some(name)), "{name} never drawn");
        }
        assert!(run(7, 0.0).iter().all(Option::is_none));
        assert!(run(7, f64::NAN).iter().all(Option::is_none));
        assert!(run(7, 1.0).iter().all(Option::is_some));
    }

    #[test]
    fn a_random_fault_stays_and_its_draws_take_effect() {
        let limits = RateLimit::atlas_default();
        let mut fault = Some(Fault::random(1, 1.0));
        for _ in 0..50 {
            let (effect, name) = apply_drawn(&mut fault, &ctx(&limits));
            match (effect, name) {
                (Some(Effect::Error { error, retry_after }), Some("server_error")) => {
                    assert_eq!(error.status.as_u16(), 500);
                    assert_eq!(retry_after, None);
                }
                (Some(Effect::Error { error, retry_after }), Some("rate_limited")) => {
                    assert_eq!(error.status.as_u16(), 429);
                    assert_eq!(retry_after, Some(1));
                }
                (Some(Effect::Malformed), Some("malformed_json")) => {}
                (Some(Effect::Delay(delay)), Some("slow")) => {
                    assert!(delay >= Duration::from_millis(50));
                    assert!(delay <= Duration::from_millis(400));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(matches!(fault, Some(Fault::Random { .. })));
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
