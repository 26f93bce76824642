//! Query strings (and `x-www-form-urlencoded` bodies, which share the syntax): parsing, the
//! common list parameters (`pageNum`, `itemsPerPage`, `includeCount`, `pretty`, `envelope`),
//! slicing a listing into a page and building its `links` as Atlas writes them (recorded):
//! `self` first; the other parameters sorted by name, with `includeCount=true` added when the
//! request had none; then `pageNum&itemsPerPage` on `self`, `itemsPerPage&pageNum` on the
//! others.

use serde_json::{Value, json};
use url::form_urlencoded;

use super::errors::ApiError;

/// Default `itemsPerPage`.
pub(crate) const DEFAULT_ITEMS_PER_PAGE: u32 = 100;
/// Largest `itemsPerPage` Atlas accepts.
pub(crate) const MAX_ITEMS_PER_PAGE: u32 = 500;

/// Decoded `key=value` pairs in their original order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `a=1&b=x%20y` (also a form body). A key without `=` gets an empty value; `+` is
    /// a space; a `%` not followed by two hex digits stays as it is.
    pub(crate) fn parse(raw: &str) -> Query {
        let pairs = form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect();
        Query { pairs }
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean flag (`true`/`false`, any case); absent gives `default`.
    pub(crate) fn flag(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(ApiError::invalid_query_parameter(key)),
        }
    }

    /// The query of a page link: the other parameters sorted by name, `includeCount=true`
    /// among them if the request had none, then the page's `pageNum` and `itemsPerPage`, in
    /// that order for the `self` link and the other way round for the rest.
    fn with_page(&self, page_num: u32, items_per_page: u32, is_self: bool) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != "pageNum" && k != "itemsPerPage")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if self.get("includeCount").is_none() {
            pairs.push(("includeCount", "true"));
        }
        pairs.sort_by_key(|(k, _)| *k);
        let page_num = page_num.to_string();
        let items_per_page = items_per_page.to_string();
        let paging = if is_self {
            [
                ("pageNum", page_num.as_str()),
                ("itemsPerPage", items_per_page.as_str()),
            ]
        } else {
            [
                ("itemsPerPage", items_per_page.as_str()),
                ("pageNum", page_num.as_str()),
            ]
        };
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .extend_pairs(paging)
            .finish()
    }
}

/// Output options every endpoint takes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Output {
    /// `pretty=true`: indented JSON.
    pub(crate) pretty: bool,
    /// `envelope=true`: lists get a `status` field, single entities `{status, content}`.
    pub(crate) envelope: bool,
}

impl Output {
    pub(crate) fn parse(query: &Query) -> Result<Output, ApiError> {
        Ok(Output {
            pretty: query.flag("pretty", false)?,
            envelope: query.flag("envelope", false)?,
        })
    }
}

/// The page a paged listing asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub(crate) page_num: u32,
    pub(crate) items_per_page: u32,
    pub(crate) include_count: bool,
}

impl PageRequest {
    /// Reads and range-checks `pageNum` (≥ 1), `itemsPerPage` (1..=500) and `includeCount`.
    pub(crate) fn parse(query: &Query) -> Result<PageRequest, ApiError> {
        let number = |key: &str, default: u32, max: u32| match query.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| ApiError::invalid_query_parameter(key)),
        };
        Ok(PageRequest {
            page_num: number("pageNum", 1, i32::MAX as u32)?,
            items_per_page: number("itemsPerPage", DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE)?,
            include_count: query.flag("includeCount", true)?,
        })
    }

    /// The slice of `items` on this page; empty past the end.
    pub(crate) fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let per = self.items_per_page as usize;
        let start = (self.page_num as usize - 1).saturating_mul(per);
        let end = start.saturating_add(per).min(items.len());
        items.get(start..end).unwrap_or(&[])
    }

    /// `self` always and first, `previous` except on page 1, `next` unless this is the last
    /// page. (No recording shows a `previous` link; it is written like `next`.)
    pub(crate) fn links(
        &self,
        origin: &str,
        path: &str,
        query: &Query,
        total: usize,
    ) -> Vec<Value> {
        let href = |page: u32, is_self: bool| {
            format!(
                "{origin}{path}?{}",
                query.with_page(page, self.items_per_page, is_self)
            )
        };
        let mut links = Vec::with_capacity(3);
        links.push(json!({"href": href(self.page_num, true), "rel": "self"}));
        if self.page_num > 1 {
            links.push(json!({"href": href(self.page_num - 1, false), "rel": "previous"}));
        }
        let shown = (self.page_num as usize).saturating_mul(self.items_per_page as usize);
        if shown < total {
            links.push(json!({"href": href(self.page_num + 1, false), "rel": "next"}));
        }
        links
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn decoding_handles_plus_escapes_and_stray_percent() {
        let q = Query::parse("a=x%20y+z&b=100%&c&d=%zz");
        assert_eq!(q.get("a"), Some("x y z"));
        assert_eq!(q.get("b"), Some("100%"));
        assert_eq!(q.get("c"), Some(""));
        assert_eq!(q.get("d"), Some("%zz"));
    }

    #[test]
    fn page_links_keep_the_other_parameters_and_they_parse_back() {
        let q = Query::parse("name=a%20b%26c&pageNum=7&tilde=%7E%2A&itemsPerPage=9&flag");
        let link = q.with_page(2, 50, false);
        assert_eq!(
            link,
            "flag=&includeCount=true&name=a+b%26c&tilde=%7E*&itemsPerPage=50&pageNum=2"
        );
        let back = Query::parse(&link);
        assert_eq!(back.get("name"), Some("a b&c"));
        assert_eq!(back.get("tilde"), Some("~*"));
        assert_eq!(back.get("flag"), Some(""));
        assert_eq!(back.get("pageNum"), Some("2"));
    }

    #[test]
    fn page_bounds_are_checked() {
        let ok = |q: &str| PageRequest::parse(&Query::parse(q));
        assert_eq!(ok("").unwrap().items_per_page, 100);
        assert!(ok("itemsPerPage=500").is_ok());
        assert!(ok("itemsPerPage=501").is_err());
        assert!(ok("itemsPerPage=0").is_err());
        assert!(ok("pageNum=0").is_err());
        assert!(ok("pageNum=abc").is_err());
        assert!(ok("includeCount=maybe").is_err());
    }

    #[test]
    fn slices_and_links_cover_first_middle_last_and_past_the_end() {
        let items: Vec<u32> = (0..7).collect();
        let page = |n| PageRequest {
            page_num: n,
            items_per_page: 3,
            include_count: true,
        };
        assert_eq!(page(1).slice(&items), &[0, 1, 2]);
        assert_eq!(page(3).slice(&items), &[6]);
        assert!(page(4).slice(&items).is_empty());
        let q = Query::parse("completed=all&pageNum=2&itemsPerPage=3");
        let rels = |n| -> Vec<String> {
            page(n)
                .links("http://h", "/p", &q, items.len())
                .iter()
                .map(|l| l["rel"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        assert_eq!(rels(1), ["self", "next"]);
        assert_eq!(rels(2), ["self", "previous", "next"]);
        assert_eq!(rels(3), ["self", "previous"]);
        let links = page(2).links("http://h", "/p", &q, items.len());
        assert_eq!(
            links[2]["href"],
            "http://h/p?completed=all&includeCount=true&itemsPerPage=3&pageNum=3"
        );
    }

    #[test]
    fn links_are_written_as_atlas_writes_them() {
        // The recorded first page of a listing the Atlas CLI asked for without includeCount.
        let first = PageRequest {
            page_num: 1,
            items_per_page: 100,
            include_count: true,
        };
        let q = Query::parse("status=CLOSED&itemsPerPage=100");
        let links = first.links("http://h", "/p", &q, 250);
        assert_eq!(links[0]["rel"], "self");
        assert_eq!(
            links[0]["href"],
            "http://h/p?includeCount=true&status=CLOSED&pageNum=1&itemsPerPage=100"
        );
        assert_eq!(links[1]["rel"], "next");
        assert_eq!(
            links[1]["href"],
            "http://h/p?includeCount=true&status=CLOSED&itemsPerPage=100&pageNum=2"
        );
        let kept = Query::parse("includeCount=false");
        assert_eq!(
            first.links("http://h", "/p", &kept, 1)[0]["href"],
            "http://h/p?includeCount=false&pageNum=1&itemsPerPage=100"
        );
    }
}
