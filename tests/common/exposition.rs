//! A strict reader of the Prometheus text exposition format (version 0.0.4), so that tests
//! fail on output Prometheus would reject or misread. `promtool check metrics` runs in CI too.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    pub types: HashMap<String, String>,
    pub helps: HashMap<String, String>,
}

impl Scrape {
    /// The value of the one sample with this name and exactly these labels.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Every sample of a metric name whose labels include these.
    pub fn all(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// True when any sample of this name has these labels among its labels.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        !self.all(name, labels).is_empty()
    }
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The family a sample name belongs to, given the declared types.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && matches!(
                types.get(base).map(String::as_str),
                Some("histogram" | "summary")
            )
        {
            return base;
        }
    }
    name
}

/// Parses and checks a whole scrape.
pub fn parse(text: &str) -> Result<Scrape, String> {
    let mut scrape = Scrape::default();
    let mut seen_series = HashSet::new();
    let mut finished_families: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        let err = |m: &str| format!("line {lineno}: {m}: {line:?}");
        if line.is_empty() {
            return Err(err("empty line"));
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            let tail = parts.next().unwrap_or_default();
            match keyword {
                "HELP" | "TYPE" => {
                    if !valid_metric_name(name) {
                        return Err(err("invalid metric name"));
                    }
                    if finished_families.contains(name)
                        || scrape
                            .samples
                            .iter()
                            .any(|s| family_of(&s.name, &scrape.types) == name)
                    {
                        return Err(err("HELP/TYPE after the family's samples"));
                    }
                    if current.as_deref() != Some(name) {
                        if let Some(prev) = current.take() {
                            finished_families.insert(prev);
                        }
                        current = Some(name.to_owned());
                    }
                    let map = if keyword == "HELP" {
                        &mut scrape.helps
                    } else {
                        if !matches!(
                            tail,
                            "counter" | "gauge" | "histogram" | "summary" | "untyped"
                        ) {
                            return Err(err("unknown type"));
                        }
                        &mut scrape.types
                    };
                    if map.insert(name.to_owned(), tail.to_owned()).is_some() {
                        return Err(err("duplicate HELP or TYPE"));
                    }
                }
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line).map_err(|m| err(&m))?;
        let family = family_of(&sample.name, &scrape.types).to_owned();
        if finished_families.contains(&family) {
            return Err(err("samples of one family are not contiguous"));
        }
        if current.as_deref() != Some(family.as_str()) {
            if let Some(prev) = current.take() {
                finished_families.insert(prev);
            }
            current = Some(family.clone());
        }
        let key = format!("{}{:?}", sample.name, sample.labels);
        if !seen_series.insert(key) {
            return Err(err("duplicate series"));
        }
        if scrape.types.get(&family).map(String::as_str) == Some("counter")
            && !sample.name.ends_with("_total")
            && !sample.name.ends_with("_created")
        {
            return Err(err("counter without the _total suffix"));
        }
        scrape.samples.push(sample);
    }
    check_histograms(&scrape)?;
    Ok(scrape)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let (name_end, has_labels) = match line.find(['{', ' ']) {
        Some(i) => (i, line.as_bytes()[i] == b'{'),
        None => return Err("no value".into()),
    };
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err("invalid metric name".into());
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if has_labels {
        rest = &rest[1..];
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let lname = &rest[..eq];
            if !valid_label_name(lname) {
                return Err(format!("invalid label name {lname:?}"));
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        _ => return Err("bad escape in label value".into()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            if labels.insert(lname.to_owned(), value).is_some() {
                return Err(format!("duplicate label {lname:?}"));
            }
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value_text = fields.next().ok_or("no value")?;
    if fields.next().is_some() {
        return Err("a timestamp or trailing text after the value".into());
    }
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn check_histograms(scrape: &Scrape) -> Result<(), String> {
    for (family, kind) in &scrape.types {
        if kind != "histogram" {
            continue;
        }
        let mut by_series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in scrape
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let le = s
                .labels
                .get("le")
                .ok_or(format!("{family}_bucket without le"))?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().map_err(|_| format!("bad le {le}"))?
            };
            let mut rest = s.labels.clone();
            rest.remove("le");
            by_series
                .entry(format!("{rest:?}"))
                .or_default()
                .push((le, s.value));
        }
        for (series, buckets) in by_series {
            if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
                return Err(format!("{family}{series}: no +Inf bucket last"));
            }
            if buckets
                .windows(2)
                .any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1)
            {
                return Err(format!("{family}{series}: buckets not cumulative"));
            }
        }
    }
    Ok(())
}
