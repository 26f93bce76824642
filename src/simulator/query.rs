//! Query strings (and `x-www-form-urlencoded` bodies, which share the syntax): parsing, the
//! common list parameters (`pageNum`, `itemsPerPage`, `includeCount`, `pretty`, `envelope`),
//! slicing a listing into a page and building its `links`.

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

    /// The query re-encoded without `pageNum`/`itemsPerPage`, followed by the given page's
    /// `pageNum` and `itemsPerPage`, as Atlas writes its page links.
    fn with_page(&self, page_num: u32, items_per_page: u32) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                self.pairs
                    .iter()
                    .filter(|(k, _)| k != "pageNum" && k != "itemsPerPage"),
            )
            .append_pair("pageNum", &page_num.to_string())
            .append_pair("itemsPerPage", &items_per_page.to_string())
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

    /// `self` always, `previous` except on page 1, `next` unless this is the last page.
    pub(crate) fn links(
        &self,
        origin: &str,
        path: &str,
        query: &Query,
        total: usize,
    ) -> Vec<Value> {
        let href = |page: u32| {
            format!(
                "{origin}{path}?{}",
                query.with_page(page, self.items_per_page)
            )
        };
        let mut links = Vec::with_capacity(3);
        if self.page_num > 1 {
            links.push(json!({"href": href(self.page_num - 1), "rel": "previous"}));
        }
        let shown = (self.page_num as usize).saturating_mul(self.items_per_page as usize);
        if shown < total {
            links.push(json!({"href": href(self.page_num + 1), "rel": "next"}));
        }
        links.push(json!({"href": href(self.page_num), "rel": "self"}));
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
        let link = q.with_page(2, 50);
        assert_eq!(
            link,
            "name=a+b%26c&tilde=%7E*&flag=&pageNum=2&itemsPerPage=50"
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
        assert_eq!(rels(1), ["next", "self"]);
        assert_eq!(rels(2), ["previous", "next", "self"]);
        assert_eq!(rels(3), ["previous", "self"]);
        let links = page(2).links("http://h", "/p", &q, items.len());
        assert_eq!(
            links[1]["href"],
            "http://h/p?completed=all&pageNum=3&itemsPerPage=3"
        );
    }
}
