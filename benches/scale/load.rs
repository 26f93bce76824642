//! Scrape load and the static file server it is compared with: sequential scrapes timed one by
//! one, `wrk` runs parsed from their `--latency` report, and nginx serving a saved copy of the
//! exporter's body (plain, and pre-compressed through `gzip_static`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING};

/// Fails the run, naming what is missing, unless `wrk` and `nginx` are installed.
pub fn require_tools() {
    let missing: Vec<&str> = ["wrk", "nginx"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the scale benchmark needs {}: on Debian, apt-get install -y {}",
        missing.join(" and "),
        missing.join(" ")
    );
}

/// A client that never decompresses: a gzip scrape is timed as the bytes on the wire.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// One GET of `url`, plain or asking for gzip: the body, and whether it came gzipped.
pub async fn get(client: &reqwest::Client, url: &str, gzip: bool) -> Result<Vec<u8>, String> {
    let mut request = client.get(url);
    if gzip {
        request = request.header(ACCEPT_ENCODING, "gzip");
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let encoded = response
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    if gzip != encoded {
        return Err(format!("asked for gzip: {gzip}, got it: {encoded}"));
    }
    response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}

/// Latencies of sequential scrapes, and how many failed.
#[derive(Debug, Default)]
pub struct Sequential {
    /// Successful scrapes, sorted.
    pub times: Vec<Duration>,
    /// Failed scrapes.
    pub failed: usize,
}

impl Sequential {
    /// The `p`-th percentile (0-100) by nearest rank.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.times, p)
    }
}

/// The `p`-th percentile (0-100) of sorted `times` by nearest rank; zero when empty.
pub fn percentile(times: &[Duration], p: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * times.len() as f64).ceil() as usize;
    times[rank.clamp(1, times.len()) - 1]
}

/// `count` scrapes one after the other over one keep-alive connection.
pub async fn sequential(url: &str, gzip: bool, count: usize) -> Sequential {
    let client = client();
    let mut result = Sequential::default();
    for _ in 0..count {
        let started = Instant::now();
        match get(&client, url, gzip).await {
            Ok(_) => result.times.push(started.elapsed()),
            Err(error) => {
                eprintln!("scrape of {url} failed: {error}");
                result.failed += 1;
            }
        }
    }
    result.times.sort();
    result
}

/// What one `wrk --latency` run reported.
#[derive(Clone, Debug, Default)]
pub struct Wrk {
    /// Requests per second.
    pub rps: f64,
    /// Latency percentiles.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Completed requests.
    pub requests: u64,
    /// Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers.
    pub errors: u64,
}

/// Runs `wrk -c 8 -t 2 -d duration --latency` on `url` (with `Accept-Encoding: gzip` when
/// asked); the 120 s timeout keeps slow scrapes counted as latency rather than as errors.
pub fn wrk(url: &str, gzip: bool, duration: Duration) -> Wrk {
    let mut command = Command::new("wrk");
    command.args(["-c", "8", "-t", "2", "--latency", "--timeout", "120s"]);
    command
        .arg("-d")
        .arg(format!("{}s", duration.as_secs().max(1)));
    if gzip {
        command.args(["-H", "Accept-Encoding: gzip"]);
    }
    let output = command.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed on {url}:\n{text}");
    parse_wrk(&text)
}

/// Reads req/s, the 50 % and 99 % latencies, the request count and every error count out of
/// wrk's report.
fn parse_wrk(text: &str) -> Wrk {
    let mut wrk = Wrk::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => wrk.p50 = wrk_duration(value),
            ["99%", value] => wrk.p99 = wrk_duration(value),
            ["Requests/sec:", value] => wrk.rps = value.parse().unwrap_or(0.0),
            [count, "requests", "in", ..] => wrk.requests = count.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                wrk.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                wrk.errors += count.parse::<u64>().unwrap_or(0);
            }
            _ => {}
        }
    }
    wrk
}

/// `1.23ms`, `456.78us`, `2.00s`, `1.50m` as wrk prints them.
fn wrk_duration(value: &str) -> Duration {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().unwrap_or(0.0);
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => 0.0,
    };
    Duration::from_secs_f64(seconds)
}

/// nginx as a child in a directory of its own, serving `/metrics` from a saved body.
pub struct Nginx {
    child: Child,
    /// `http://127.0.0.1:PORT/metrics`.
    pub url: String,
}

impl Nginx {
    /// Saves `plain` and `gzipped` as `metrics` and `metrics.gz` under `dir`, writes an
    /// nginx.conf (one process serving, `master_process off` and `daemon off`, so that killing
    /// the child stops it all and no worker outlives the run; pid, logs and temp paths in
    /// `dir`) and starts nginx on a free loopback port; returns once it answers.
    pub async fn start(dir: &Path, plain: &[u8], gzipped: &[u8]) -> Nginx {
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("metrics"), plain).unwrap();
        std::fs::write(www.join("metrics.gz"), gzipped).unwrap();
        // Started as root, nginx would serve as nobody with a master process; without one it
        // stays root, but the files are made readable either way.
        make_readable(dir);
        make_readable(&www);
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            "master_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
             client_body_temp_path {d}/client_body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {www};\n\
             location = /metrics {{\n      default_type \"text/plain; version=0.0.4; charset=utf-8\";\n\
             gzip_static on;\n    }}\n  }}\n}}\n",
            www = www.display()
        );
        let conf_path: PathBuf = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nginx: {e}"));
        let nginx = Nginx {
            child,
            url: format!("http://127.0.0.1:{port}/metrics"),
        };
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(body) = get(&client, &nginx.url, false).await {
                assert_eq!(body.len(), plain.len(), "nginx serves the saved body");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not answer on {}; see {d}/error.log",
                nginx.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let gz = get(&client, &nginx.url, true).await.unwrap();
        assert_eq!(gz.len(), gzipped.len(), "nginx serves the gzip copy");
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn make_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::iter::once(path.to_path_buf()).chain(
        std::fs::read_dir(path)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path())),
    ) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// A loopback port that was free a moment ago (nginx cannot bind port 0 and report it; the
/// race with another process taking it is acceptable in a benchmark).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
