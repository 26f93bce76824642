//! Atlas' token-bucket rate limiting: one bucket per (project, endpoint set), each request takes
//! a token, `refill` tokens come back every `refill_period` (in whole steps, up to `capacity`).
//! An empty bucket answers 429 `RATE_LIMITED_TOKEN_BUCKET` with `Retry-After`. Every answer to
//! a request the bucket saw carries `Ratelimit-Limit` and `Ratelimit-Remaining` (0 on its 429),
//! errors included, as Atlas' recorded answers do.

use std::collections::HashMap;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::errors::ApiError;
use super::routes::EndpointSet;
use super::scenario::RateLimit;

/// What the limiter decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// No rate limit configured: no headers.
    Unlimited,
    /// Took a token.
    Admitted { limit: u32, remaining: u32 },
    /// The bucket is empty.
    Refused { retry_after_secs: u64 },
}

struct Bucket {
    tokens: u32,
    last_refill: Instant,
}

/// All buckets, created full on first use.
pub(crate) struct RateLimiter {
    config: Option<RateLimit>,
    buckets: HashMap<(String, EndpointSet), Bucket>,
}

impl RateLimiter {
    pub(crate) fn new(config: Option<RateLimit>) -> RateLimiter {
        RateLimiter {
            config,
            buckets: HashMap::new(),
        }
    }

    /// Takes a token from the bucket of `(project, set)` if it has one.
    pub(crate) fn admit(&mut self, project: &str, set: EndpointSet, now: Instant) -> Admission {
        let Some(config) = &self.config else {
            return Admission::Unlimited;
        };
        let bucket = self
            .buckets
            .entry((project.to_string(), set))
            .or_insert(Bucket {
                tokens: config.capacity,
                last_refill: now,
            });
        refill(bucket, config, now);
        if bucket.tokens > 0 {
            bucket.tokens -= 1;
            return Admission::Admitted {
                limit: config.capacity,
                remaining: bucket.tokens,
            };
        }
        let until_refill = if config.refill == 0 {
            // Never refills; tell the client to come back after a period anyway.
            config.refill_period
        } else {
            config
                .refill_period
                .saturating_sub(now.saturating_duration_since(bucket.last_refill))
        };
        Admission::Refused {
            retry_after_secs: ceil_secs(until_refill).max(1),
        }
    }

    /// The configured limits, or Atlas' defaults when none are (for fault-made 429s).
    pub(crate) fn limits(&self) -> RateLimit {
        self.config.clone().unwrap_or_else(RateLimit::atlas_default)
    }
}

fn refill(bucket: &mut Bucket, config: &RateLimit, now: Instant) {
    if config.refill_period.is_zero() {
        bucket.tokens = config.capacity;
        bucket.last_refill = now;
        return;
    }
    let elapsed = now.saturating_duration_since(bucket.last_refill);
    let periods = elapsed.as_nanos() / config.refill_period.as_nanos();
    if periods == 0 {
        return;
    }
    let added = periods.saturating_mul(u128::from(config.refill));
    let tokens = (u128::from(bucket.tokens) + added).min(u128::from(config.capacity));
    bucket.tokens = u32::try_from(tokens).unwrap_or(config.capacity);
    if bucket.tokens == config.capacity {
        bucket.last_refill = now;
    } else {
        let step = config
            .refill_period
            .saturating_mul(u32::try_from(periods).unwrap_or(u32::MAX));
        bucket.last_refill += step;
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A duration as a JSON number of seconds: an integer when whole.
fn seconds_value(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        json!(d.as_secs())
    } else {
        json!(d.as_secs_f64())
    }
}

/// The 429 body, shaped like Atlas' documented example.
pub(crate) fn rate_limited(path: &str, retry_after_secs: u64, limits: &RateLimit) -> ApiError {
    let resource = path.trim_start_matches('/');
    let period = seconds_value(limits.refill_period);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED_TOKEN_BUCKET",
        format!(
            "Rate limit exceeded for {resource}. Please retry after {retry_after_secs} seconds. \
             Request capacity: {}. Refill rate: {} per {period} seconds.",
            limits.capacity, limits.refill
        ),
        vec![
            json!(resource),
            json!(retry_after_secs),
            json!(limits.capacity),
            json!(limits.refill),
            period,
        ],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limiter(capacity: u32, refill: u32, period_ms: u64) -> RateLimiter {
        RateLimiter::new(Some(RateLimit {
            capacity,
            refill,
            refill_period: Duration::from_millis(period_ms),
        }))
    }

    #[test]
    fn a_bucket_empties_then_refills_in_whole_steps() {
        let start = Instant::now();
        let mut rl = limiter(2, 1, 1_000);
        let set = EndpointSet::FlexSnapshots;
        assert_eq!(
            rl.admit("p", set, start),
            Admission::Admitted {
                limit: 2,
                remaining: 1
            }
        );
        assert_eq!(
            rl.admit("p", set, start),
            Admission::Admitted {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(
            rl.admit("p", set, start),
            Admission::Refused {
                retry_after_secs: 1
            }
        );
        let later = start + Duration::from_millis(1_500);
        assert_eq!(
            rl.admit("p", set, later),
            Admission::Admitted {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(
            rl.admit("p", set, later),
            Admission::Refused {
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn buckets_are_per_project_and_endpoint_set() {
        let now = Instant::now();
        let mut rl = limiter(1, 1, 60_000);
        assert!(matches!(
            rl.admit("p", EndpointSet::FlexSnapshots, now),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            rl.admit("p", EndpointSet::CloudBackups, now),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            rl.admit("q", EndpointSet::FlexSnapshots, now),
            Admission::Admitted { .. }
        ));
        assert_eq!(
            rl.admit("p", EndpointSet::FlexSnapshots, now),
            Admission::Refused {
                retry_after_secs: 60
            }
        );
    }

    #[test]
    fn no_config_means_unlimited() {
        let mut rl = RateLimiter::new(None);
        assert_eq!(
            rl.admit("p", EndpointSet::Projects, Instant::now()),
            Admission::Unlimited
        );
    }

    #[test]
    fn the_429_body_reads_like_atlas() {
        let body = rate_limited(
            "/api/atlas/v2/orgs",
            55,
            &RateLimit {
                capacity: 10,
                refill: 5,
                refill_period: Duration::from_secs(60),
            },
        )
        .body();
        assert_eq!(
            body["detail"],
            "Rate limit exceeded for api/atlas/v2/orgs. Please retry after 55 seconds. Request capacity: 10. Refill rate: 5 per 60 seconds."
        );
        assert_eq!(
            body["parameters"],
            json!(["api/atlas/v2/orgs", 55, 10, 5, 60])
        );
    }
}
