//! Atlas' API lifecycle: the routes or media types marked for sunset, whose answers carry
//! `Deprecation:` and `Sunset:` (as the 2023-02-01 clusters API does), and the retired ones,
//! which answer 410 `VERSION_GONE`.
//!
//! A switch names either a route (a `Stats::by_route` name such as `tenant_list_v2`) or a media
//! type (`application/vnd.atlas.2023-01-01+json`), and applies to every request of that route
//! or media type.

use std::collections::{HashMap, HashSet};

use hyper::header::{HeaderMap, HeaderValue};
use jiff::Timestamp;

/// The dates a deprecated route announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SunsetNotice {
    /// Sent as `Deprecation:` when given.
    pub deprecation: Option<Timestamp>,
    /// Sent as `Sunset:`.
    pub sunset: Timestamp,
}

/// The lifecycle switches of one simulator.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    notices: HashMap<String, SunsetNotice>,
    gone: HashSet<String>,
}

impl Lifecycle {
    /// Sets (or with `None` clears) the notice of a route or media type.
    pub(crate) fn set_notice(&mut self, selector: &str, notice: Option<SunsetNotice>) {
        match notice {
            Some(n) => {
                self.notices.insert(selector.to_owned(), n);
            }
            None => {
                self.notices.remove(selector);
            }
        }
    }

    /// Retires a route or media type (410 `VERSION_GONE`), or brings it back.
    pub(crate) fn set_gone(&mut self, selector: &str, gone: bool) {
        if gone {
            self.gone.insert(selector.to_owned());
        } else {
            self.gone.remove(selector);
        }
    }

    /// True when the route or its media type is retired.
    pub(crate) fn is_gone(&self, route: &str, media: &str) -> bool {
        self.gone.contains(route) || self.gone.contains(media)
    }

    /// Adds `Deprecation:` and `Sunset:` when the route (first) or its media type has a notice.
    pub(crate) fn decorate(&self, route: &str, media: &str, headers: &mut HeaderMap) {
        let Some(notice) = self.notices.get(route).or_else(|| self.notices.get(media)) else {
            return;
        };
        if let Some(deprecation) = notice.deprecation
            && let Ok(value) = HeaderValue::from_str(&http_date(deprecation))
        {
            headers.insert("deprecation", value);
        }
        if let Ok(value) = HeaderValue::from_str(&http_date(notice.sunset)) {
            headers.insert("sunset", value);
        }
    }
}

/// An HTTP-date as Atlas writes it: `Thu, 1 Jul 2027 00:00:00 GMT`, the day without a zero.
fn http_date(at: Timestamp) -> String {
    at.strftime("%a, %-d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_like_the_recorded_atlas_headers() {
        let notice = SunsetNotice {
            deprecation: Some("2024-08-05T00:00:00Z".parse().unwrap()),
            sunset: "2027-07-01T00:00:00Z".parse().unwrap(),
        };
        let mut lifecycle = Lifecycle::default();
        lifecycle.set_notice("application/vnd.atlas.2023-02-01+json", Some(notice));
        let mut headers = HeaderMap::new();
        lifecycle.decorate(
            "cluster_get",
            "application/vnd.atlas.2023-02-01+json",
            &mut headers,
        );
        assert_eq!(headers["sunset"], "Thu, 1 Jul 2027 00:00:00 GMT");
        assert_eq!(headers["deprecation"], "Mon, 5 Aug 2024 00:00:00 GMT");
    }

    #[test]
    fn a_route_is_gone_by_its_name_or_its_media_type() {
        let mut lifecycle = Lifecycle::default();
        lifecycle.set_gone("tenant_list_v2", true);
        assert!(lifecycle.is_gone("tenant_list_v2", "m"));
        assert!(!lifecycle.is_gone("dedicated_list", "m"));
        lifecycle.set_gone("m", true);
        assert!(lifecycle.is_gone("dedicated_list", "m"));
        lifecycle.set_gone("m", false);
        lifecycle.set_gone("tenant_list_v2", false);
        assert!(!lifecycle.is_gone("tenant_list_v2", "m"));
    }
}
