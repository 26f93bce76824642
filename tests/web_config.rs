//! `--web.config.file`: bad files against the exact messages they must produce, basic auth
//! against fixed bcrypt hashes, and TLS over real sockets on 127.0.0.1 with certificates made
//! by rcgen for each test, served by tokio-rustls + hyper and fetched with reqwest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use atlas_snapshot_exporter::web_config::{BasicAuth, ClientAuthType, WebConfig, WebConfigError};
use base64::Engine as _;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const FIXTURES: &str = "tests/testdata/web";

// ---------------------------------------------------------------------------------------------
// Bad files

/// Each `*.bad.yml` fixture and the whole message it must produce; `{file}` stands for its path.
const BAD_FILES: &[(&str, &str)] = &[
    (
        "unknown_key.bad.yml",
        "{file}: tls_server_config: unknown field `client_auth`, expected one of `cert`, `key`, \
         `client_ca`, `cert_file`, `key_file`, `client_auth_type`, `client_ca_file`, \
         `client_allowed_sans`, `min_version`, `max_version`, `cipher_suites`, \
         `prefer_server_cipher_suites`, `curve_preferences` at line 4 column 3",
    ),
    (
        "unknown_top_level_key.bad.yml",
        "{file}: unknown field `basic_auth`, expected one of `tls_server_config`, \
         `http_server_config`, `basic_auth_users`, `rate_limit`",
    ),
    (
        "not_a_map.bad.yml",
        "{file}: invalid type: sequence, expected a map with tls_server_config, \
         http_server_config or basic_auth_users",
    ),
    (
        "cert_without_key.bad.yml",
        "{file}: tls_server_config: missing one of key or key_file",
    ),
    (
        "cert_and_cert_file.bad.yml",
        "{file}: tls_server_config: cert and cert_file are both set; use one",
    ),
    (
        "empty_cert_file.bad.yml",
        "{file}: tls_server_config.cert_file: is empty",
    ),
    (
        "settings_without_cert.bad.yml",
        "{file}: tls_server_config: missing one of cert or cert_file",
    ),
    (
        "missing_cert_file.bad.yml",
        "{file}: tls_server_config.cert_file: cannot read tests/testdata/web/does-not-exist.crt: \
         No such file or directory (os error 2)",
    ),
    (
        "bad_bcrypt_hash.bad.yml",
        "{file}: basic_auth_users.alice: the password hash is not a valid bcrypt hash: \
         the hash format is malformed; expected 60 ASCII bytes",
    ),
    (
        "hash_not_a_string.bad.yml",
        "{file}: basic_auth_users.alice: the password hash must be a string (a bcrypt hash)",
    ),
    (
        "numeric_user_name.bad.yml",
        "{file}: basic_auth_users.1234: a user name must be a string; quote it",
    ),
    (
        "user_name_with_colon.bad.yml",
        "{file}: basic_auth_users.ops:prometheus: a user name cannot contain ':', which \
         separates user and password in basic auth",
    ),
    (
        "tls10_min_version.bad.yml",
        "{file}: tls_server_config.min_version: TLS10 is not supported: rustls implements \
         TLS 1.2 and TLS 1.3 only; use TLS12 or TLS13",
    ),
    (
        "unknown_version.bad.yml",
        "{file}: tls_server_config.max_version: unknown TLS version \"TLS14\"; \
         expected TLS12 or TLS13",
    ),
    (
        "min_above_max.bad.yml",
        "{file}: tls_server_config.min_version: TLS13 is above max_version TLS12",
    ),
    (
        "verify_without_ca.bad.yml",
        "{file}: tls_server_config.client_auth_type: RequireAndVerifyClientCert verifies \
         client certificates and needs client_ca_file (or client_ca)",
    ),
    (
        "ca_without_client_auth.bad.yml",
        "{file}: tls_server_config.client_ca_file: a client CA is configured but \
         client_auth_type is NoClientCert; set client_auth_type to RequireAndVerifyClientCert",
    ),
    (
        "unknown_client_auth_type.bad.yml",
        "{file}: tls_server_config.client_auth_type: unknown client auth type \
         \"RequireValidClientCert\"; expected one of: NoClientCert, RequestClientCert, \
         RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
    ),
    (
        "sans_with_optional_cert.bad.yml",
        "{file}: tls_server_config.client_allowed_sans: client_allowed_sans requires \
         client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
    ),
    (
        "bad_header_name.bad.yml",
        "{file}: http_server_config.headers.X-Powered-By: this header cannot be configured; \
         allowed: Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, \
         X-Frame-Options, X-XSS-Protection",
    ),
    (
        "bad_header_value.bad.yml",
        "{file}: http_server_config.headers.X-Content-Type-Options: invalid value \"sniff\"; \
         expected one of: nosniff",
    ),
    (
        "unsupported_curve.bad.yml",
        "{file}: tls_server_config.curve_preferences[1]: CurveP521 is not supported by rustls; \
         use X25519, CurveP256 or CurveP384",
    ),
    (
        "unsupported_cipher_suite.bad.yml",
        "{file}: tls_server_config.cipher_suites[1]: cipher suite \
         \"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\" is not supported; rustls offers: \
         TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, \
         TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, \
         TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, \
         TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "tls12_suite_with_tls13_only.bad.yml",
        "{file}: tls_server_config.cipher_suites[0]: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 is \
         a TLS12 suite, but min_version/max_version leave TLS12 out",
    ),
    (
        "rate_limit.bad.yml",
        "{file}: rate_limit: rate limiting is not supported by atlas-snapshot-exporter; \
         put a rate-limiting reverse proxy in front of it",
    ),
    (
        "inline_key_not_a_string.bad.yml",
        "{file}: tls_server_config.key: must be a string holding a PEM private key",
    ),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn load_error(path: &Path) -> WebConfigError {
    match WebConfig::load(path) {
        Ok(config) => panic!("{} loaded: {config:?}", path.display()),
        Err(error) => error,
    }
}

#[test]
fn each_bad_file_is_refused_with_a_message_naming_the_file_the_key_and_the_problem() {
    let mut mismatches = Vec::new();
    for (name, expected) in BAD_FILES {
        let path = fixture(name);
        let expected = expected.replace("{file}", &path.display().to_string());
        let actual = match WebConfig::load(&path) {
            Ok(_) => "(loaded without error)".to_string(),
            Err(error) => error.to_string(),
        };
        if actual != expected {
            mismatches.push(format!(
                "{name}\n  expected: {expected}\n  actual:   {actual}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn every_bad_fixture_on_disk_is_in_the_table() {
    let mut unlisted = Vec::new();
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".bad.yml") && !BAD_FILES.iter().any(|(listed, _)| *listed == name) {
            unlisted.push(name);
        }
    }
    assert!(
        unlisted.is_empty(),
        "fixtures not in BAD_FILES: {unlisted:?}"
    );
}

#[test]
fn no_error_message_quotes_the_password_hash_or_the_inline_key() {
    let hash_error = load_error(&fixture("bad_bcrypt_hash.bad.yml")).to_string();
    assert!(!hash_error.contains("plaintext-password"), "{hash_error}");
    let key_error = load_error(&fixture("inline_key_not_a_string.bad.yml")).to_string();
    assert!(!key_error.contains("secret-key-material"), "{key_error}");
}

#[test]
fn a_web_config_file_over_1_mib_is_refused_with_its_size() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(200 * 1000 * 1000)
        .unwrap();
    let error = load_error(&path);
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the file is 200000000 bytes; the limit is 1 MiB",
            path.display()
        )
    );
    assert_eq!(error.key(), None);
    std::fs::write(&path, vec![b'#'; 1024 * 1024 + 1]).unwrap();
    assert_eq!(
        load_error(&path).to_string(),
        format!(
            "{}: the file is 1048577 bytes; the limit is 1 MiB",
            path.display()
        )
    );
}

#[test]
fn a_missing_web_config_file_is_refused_with_its_name() {
    let path = fixture("no-such-web-config.yml");
    let error = load_error(&path);
    assert_eq!(
        error.to_string(),
        format!(
            "{}: cannot read the web config file: No such file or directory (os error 2)",
            path.display()
        )
    );
    assert_eq!(error.key(), None);
}

#[test]
fn an_error_about_one_key_reports_that_key() {
    let error = load_error(&fixture("tls10_min_version.bad.yml"));
    assert_eq!(error.key(), Some("tls_server_config.min_version"));
    assert!(matches!(error, WebConfigError::Unsupported { .. }));
}

// ---------------------------------------------------------------------------------------------
// Good files without TLS

#[test]
fn an_empty_file_means_plain_http_without_auth_or_headers() {
    let config = WebConfig::load(&fixture("empty.good.yml")).unwrap();
    assert!(config.tls_acceptor().is_none());
    assert!(config.basic_auth().is_none());
    assert!(config.response_headers().is_empty());
    assert_eq!(config.client_auth(), ClientAuthType::NoClientCert);
}

fn basic_auth() -> Arc<BasicAuth> {
    let config = WebConfig::load(&fixture("basic_auth_only.good.yml")).unwrap();
    assert!(config.tls_acceptor().is_none());
    config.basic_auth().expect("basic_auth_users is set")
}

fn credentials(user: &str, password: &str) -> HeaderValue {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    HeaderValue::from_str(&format!("Basic {token}")).unwrap()
}

#[test]
fn basic_auth_accepts_each_user_with_the_right_password() {
    let auth = basic_auth();
    assert_eq!(auth.users().collect::<Vec<_>>(), ["alice", "bob"]);
    // alice's hash has the $2y$ prefix, bob's $2b$.
    assert!(auth.verify(Some(&credentials("alice", "correct horse"))));
    assert!(auth.verify(Some(&credentials("bob", "battery staple"))));
}

#[test]
fn basic_auth_rejects_a_wrong_password() {
    let auth = basic_auth();
    assert!(!auth.verify(Some(&credentials("alice", "battery staple"))));
    assert!(!auth.verify(Some(&credentials("alice", ""))));
}

#[test]
fn basic_auth_rejects_an_unknown_user_even_with_a_configured_password() {
    let auth = basic_auth();
    assert!(!auth.verify(Some(&credentials("mallory", "correct horse"))));
    assert!(!auth.verify(Some(&credentials("", "correct horse"))));
}

#[test]
fn basic_auth_rejects_a_missing_or_malformed_authorization_header() {
    let auth = basic_auth();
    assert!(!auth.verify(None));
    for malformed in [
        "",
        "Basic",
        "Basic ",
        "Bearer YWxpY2U6Y29ycmVjdCBob3JzZQ==",
        "Basic not base64!",
        // base64 of "alicecorrect horse": no colon.
        "Basic YWxpY2Vjb3JyZWN0IGhvcnNl",
        // Right credentials without padding: Go's decoder refuses it, and so do we.
        "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ",
    ] {
        assert!(
            !auth.verify(Some(&HeaderValue::from_static(malformed))),
            "{malformed:?} was accepted"
        );
    }
    // The same credentials, well formed, pass: the rejections above are about the form.
    assert!(auth.verify(Some(&HeaderValue::from_static(
        "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="
    ))));
}

#[test]
fn a_cached_user_is_still_rejected_with_a_wrong_password() {
    let auth = basic_auth();
    assert!(auth.verify(Some(&credentials("alice", "correct horse"))));
    assert!(!auth.verify(Some(&credentials("alice", "correct horsE"))));
    assert!(!auth.verify(Some(&credentials("alice", "correct horse "))));
    // The cached success still stands.
    assert!(auth.verify(Some(&credentials("alice", "correct horse"))));
}

#[tokio::test]
async fn verify_async_gives_the_same_answers_as_verify() {
    let auth = basic_auth();
    let right = credentials("bob", "battery staple");
    let wrong = credentials("bob", "correct horse");
    assert!(!auth.verify_async(None).await);
    assert!(!auth.verify_async(Some(&wrong)).await);
    assert!(auth.verify_async(Some(&right)).await);
    // Second time from the cache.
    assert!(auth.verify_async(Some(&right)).await);
    assert!(!auth.verify_async(Some(&wrong)).await);
}

#[test]
fn the_challenge_names_the_basic_scheme_and_the_exporter() {
    assert_eq!(
        basic_auth().challenge(),
        "Basic realm=\"atlas-snapshot-exporter\", charset=\"UTF-8\""
    );
}

// ---------------------------------------------------------------------------------------------
// TLS over real sockets

/// A certificate and its private key, PEM.
struct Pair {
    cert: String,
    key: String,
}

impl Pair {
    /// Certificate then key in one PEM, as reqwest's `Identity::from_pem` wants it.
    fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert, self.key).as_bytes()).unwrap()
    }
}

fn self_signed(sans: &[&str]) -> Pair {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(sans).unwrap();
    Pair {
        cert: certified.cert.pem(),
        key: certified.signing_key.serialize_pem(),
    }
}

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Pair {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn client(&self, sans: &[&str]) -> Pair {
        self.issue(sans, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A tempdir holding a web config and the files it names (by relative path).
struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, contents: &str) -> &Self {
        std::fs::write(self.dir.path().join(name), contents).unwrap();
        self
    }

    /// Writes the server's certificate and key as `server.crt` and `server.key`.
    fn server(&self, pair: &Pair) -> &Self {
        self.file("server.crt", &pair.cert)
            .file("server.key", &pair.key)
    }

    fn load(&self, yaml: &str) -> Result<WebConfig, WebConfigError> {
        self.file("web.yml", yaml);
        WebConfig::load(&self.dir.path().join("web.yml"))
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// What the server saw of one TLS handshake.
#[derive(Debug)]
struct Handshake {
    version: Option<rustls::ProtocolVersion>,
    suite: Option<rustls::CipherSuite>,
    alpn: Option<Vec<u8>>,
    client_certificate: bool,
}

struct TestServer {
    addr: SocketAddr,
    handshakes: mpsc::UnboundedReceiver<Result<Handshake, String>>,
}

impl TestServer {
    fn url(&self) -> String {
        format!("https://{}/metrics", self.addr)
    }

    /// The server's side of the next handshake.
    async fn next_handshake(&mut self) -> Result<Handshake, String> {
        tokio::time::timeout(Duration::from_secs(10), self.handshakes.recv())
            .await
            .expect("a handshake within 10 s")
            .expect("the server is running")
    }
}

/// Serves HTTP/1.1 over the config's TLS on 127.0.0.1:0, as the real server will: basic auth
/// when configured, the configured response headers on every response.
async fn serve(config: &WebConfig) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = config.tls_acceptor().expect("tls_server_config is set");
    let auth = config.basic_auth();
    let headers = config.response_headers().clone();
    let (tx, handshakes) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx, auth, headers) =
                (acceptor.clone(), tx.clone(), auth.clone(), headers.clone());
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(error) => {
                        let _ = tx.send(Err(error.to_string()));
                        return;
                    }
                };
                let (_, connection) = tls.get_ref();
                let _ = tx.send(Ok(Handshake {
                    version: connection.protocol_version(),
                    suite: connection.negotiated_cipher_suite().map(|s| s.suite()),
                    alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
                    client_certificate: connection
                        .peer_certificates()
                        .is_some_and(|certs| !certs.is_empty()),
                }));
                let service =
                    service_fn(move |request| respond(request, auth.clone(), headers.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TestServer { addr, handshakes }
}

async fn respond(
    request: Request<Incoming>,
    auth: Option<Arc<BasicAuth>>,
    headers: HeaderMap,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let allowed = match &auth {
        Some(auth) => {
            auth.verify_async(request.headers().get(AUTHORIZATION))
                .await
        }
        None => true,
    };
    let mut response = if allowed {
        Response::new(Full::new(Bytes::from_static(b"snapshots are happening\n")))
    } else {
        let mut response = Response::new(Full::new(Bytes::from_static(b"Unauthorized\n")));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        if let Some(auth) = &auth {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(auth.challenge()));
        }
        response
    };
    response.headers_mut().extend(headers);
    Ok(response)
}

/// A reqwest client that trusts only `root` (PEM), optionally presenting a client certificate.
fn client(root: &str, identity: Option<&Pair>) -> reqwest::ClientBuilder {
    let root = reqwest::Certificate::from_pem(root.as_bytes()).unwrap();
    let builder = reqwest::Client::builder()
        .tls_certs_only([root])
        .no_proxy()
        .timeout(Duration::from_secs(10));
    match identity {
        Some(pair) => builder.identity(pair.identity()),
        None => builder,
    }
}

async fn get(client: reqwest::ClientBuilder, url: &str) -> reqwest::Result<reqwest::Response> {
    client.build().unwrap().get(url).send().await
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate_serves_https_over_http_1_1() {
    let server_pair = self_signed(&["127.0.0.1", "localhost"]);
    let setup = Setup::new();
    setup.server(&server_pair);
    let config = setup
        .load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        .unwrap();
    let mut server = serve(&config).await;

    let response = get(client(&server_pair.cert, None), &server.url())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.text().await.unwrap(), "snapshots are happening\n");

    let handshake = server.next_handshake().await.unwrap();
    assert_eq!(handshake.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(handshake.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(!handshake.client_certificate);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_fails_the_handshake() {
    let setup = Setup::new();
    setup.server(&self_signed(&["127.0.0.1"]));
    let config = setup
        .load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        .unwrap();
    let server = serve(&config).await;
    let other_root = self_signed(&["127.0.0.1"]);
    assert!(
        get(client(&other_root.cert, None), &server.url())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_inline_certificate_and_key_serve_like_files() {
    let pair = self_signed(&["127.0.0.1"]);
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let setup = Setup::new();
    let config = setup
        .load(&format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}",
            indent(&pair.cert),
            indent(&pair.key)
        ))
        .unwrap();
    let server = serve(&config).await;
    let response = get(client(&pair.cert, None), &server.url()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// PEM-encodes DER with the given label.
fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The key inside a PKCS#8 PrivateKeyInfo: for RSA, the PKCS#1 RSAPrivateKey.
fn unwrap_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    let (_, info) = x509_parser::der_parser::parse_der(pkcs8).unwrap();
    let fields = info.as_sequence().unwrap();
    fields[2].as_slice().unwrap().to_vec()
}

#[tokio::test]
async fn a_pkcs1_rsa_key_and_a_sec1_ec_key_both_serve() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    let rsa_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let rsa_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&rsa_key)
        .unwrap();
    let pkcs1 = pem("RSA PRIVATE KEY", &unwrap_pkcs8(rsa_key.serialized_der()));

    let ec_key = KeyPair::generate().unwrap();
    let ec_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&ec_key)
        .unwrap();
    let sec1_der =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, ec_key.serialized_der())
            .unwrap()
            .private_key()
            .as_der()
            .unwrap();
    let sec1 = pem("EC PRIVATE KEY", sec1_der.as_ref());

    for (cert, key) in [(rsa_cert.pem(), pkcs1), (ec_cert.pem(), sec1)] {
        let label = key.lines().next().unwrap().to_string();
        let setup = Setup::new();
        setup.server(&Pair {
            cert: cert.clone(),
            key,
        });
        let config = setup
            .load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let server = serve(&config).await;
        let response = get(client(&cert, None), &server.url()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{label}");
    }
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let setup = Setup::new();
    setup
        .file("server.crt", &self_signed(&["127.0.0.1"]).cert)
        .file("server.key", &self_signed(&["127.0.0.1"]).key);
    let error = setup
        .load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: tls_server_config.key_file: the private key does not match the certificate",
            setup.path("web.yml")
        )
    );
}

#[test]
fn a_key_file_without_a_key_is_refused() {
    let pair = self_signed(&["127.0.0.1"]);
    let setup = Setup::new();
    setup
        .file("server.crt", &pair.cert)
        .file("server.key", &pair.cert);
    let error = setup
        .load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: tls_server_config.key_file: the file holds no PEM private key (expected \
             PKCS#8 \"PRIVATE KEY\", PKCS#1 \"RSA PRIVATE KEY\" or SEC1 \"EC PRIVATE KEY\")",
            setup.path("web.yml")
        )
    );
}

#[tokio::test]
async fn max_version_tls12_makes_the_handshake_tls12_with_the_listed_suite() {
    let pair = self_signed(&["127.0.0.1"]);
    let setup = Setup::new();
    setup.server(&pair);
    let config = setup
        .load(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             max_version: TLS12\n  cipher_suites:\n    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n  \
             curve_preferences: [CurveP384]\n",
        )
        .unwrap();
    let mut server = serve(&config).await;
    let response = get(client(&pair.cert, None), &server.url()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let handshake = server.next_handshake().await.unwrap();
    assert_eq!(handshake.version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(
        handshake.suite,
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
}

#[tokio::test]
async fn min_version_tls13_refuses_a_client_limited_to_tls12() {
    let pair = self_signed(&["127.0.0.1"]);
    let setup = Setup::new();
    setup.server(&pair);
    let config = setup
        .load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n")
        .unwrap();
    let mut server = serve(&config).await;
    let tls12_only = client(&pair.cert, None).tls_version_max(reqwest::tls::Version::TLS_1_2);
    assert!(get(tls12_only, &server.url()).await.is_err());
    assert!(server.next_handshake().await.is_err());
    // A client allowed TLS 1.3 gets in.
    let response = get(client(&pair.cert, None), &server.url()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A server certificate from `ca` and a web config requiring client certificates from it.
fn mtls_setup(ca: &Ca, client_auth_type: &str, extra: &str) -> (Setup, WebConfig) {
    let setup = Setup::new();
    setup
        .server(&ca.issue(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth))
        .file("clients-ca.crt", &ca.pem());
    let config = setup
        .load(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: {client_auth_type}\n  client_ca_file: clients-ca.crt\n{extra}"
        ))
        .unwrap();
    (setup, config)
}

#[tokio::test]
async fn require_and_verify_client_cert_rejects_a_client_without_a_certificate() {
    let ca = Ca::new("clients");
    let (_setup, config) = mtls_setup(&ca, "RequireAndVerifyClientCert", "");
    assert_eq!(
        config.client_auth(),
        ClientAuthType::RequireAndVerifyClientCert
    );
    let mut server = serve(&config).await;
    assert!(get(client(&ca.pem(), None), &server.url()).await.is_err());
    let refused = server.next_handshake().await.unwrap_err();
    assert!(refused.contains("no certificates"), "{refused}");
}

#[tokio::test]
async fn require_and_verify_client_cert_accepts_a_certificate_signed_by_the_client_ca() {
    let ca = Ca::new("clients");
    let (_setup, config) = mtls_setup(&ca, "RequireAndVerifyClientCert", "");
    let mut server = serve(&config).await;
    let prometheus = ca.client(&["prometheus.example"]);
    let response = get(client(&ca.pem(), Some(&prometheus)), &server.url())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(server.next_handshake().await.unwrap().client_certificate);
}

#[tokio::test]
async fn require_and_verify_client_cert_rejects_a_certificate_from_another_ca() {
    let ca = Ca::new("clients");
    let (_setup, config) = mtls_setup(&ca, "RequireAndVerifyClientCert", "");
    let mut server = serve(&config).await;
    let stranger = Ca::new("strangers").client(&["prometheus.example"]);
    assert!(
        get(client(&ca.pem(), Some(&stranger)), &server.url())
            .await
            .is_err()
    );
    let refused = server.next_handshake().await.unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
}

#[tokio::test]
async fn verify_client_cert_if_given_lets_a_client_without_a_certificate_in_but_checks_one_that_is_sent()
 {
    let ca = Ca::new("clients");
    let (_setup, config) = mtls_setup(&ca, "VerifyClientCertIfGiven", "");
    let mut server = serve(&config).await;
    let response = get(client(&ca.pem(), None), &server.url()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!server.next_handshake().await.unwrap().client_certificate);

    let stranger = Ca::new("strangers").client(&["prometheus.example"]);
    assert!(
        get(client(&ca.pem(), Some(&stranger)), &server.url())
            .await
            .is_err()
    );
    assert!(server.next_handshake().await.is_err());
}

#[tokio::test]
async fn client_allowed_sans_admits_a_listed_name_and_turns_away_others() {
    let ca = Ca::new("clients");
    let (_setup, config) = mtls_setup(
        &ca,
        "RequireAndVerifyClientCert",
        "  client_allowed_sans:\n    - prometheus.example\n    - 10.0.0.7\n",
    );
    let mut server = serve(&config).await;

    let by_dns = ca.client(&["prometheus.example"]);
    let response = get(client(&ca.pem(), Some(&by_dns)), &server.url())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.next_handshake().await.unwrap();

    let by_ip = ca.client(&["10.0.0.7"]);
    let response = get(client(&ca.pem(), Some(&by_ip)), &server.url())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.next_handshake().await.unwrap();

    let other = ca.client(&["grafana.example"]);
    assert!(
        get(client(&ca.pem(), Some(&other)), &server.url())
            .await
            .is_err()
    );
    let refused = server.next_handshake().await.unwrap_err();
    assert!(refused.contains("client_allowed_sans"), "{refused}");
}

#[tokio::test]
async fn require_any_client_cert_takes_an_unverified_certificate_but_not_none() {
    let ca = Ca::new("clients");
    let (_setup, config) = mtls_setup(&ca, "RequireAnyClientCert", "");
    let mut server = serve(&config).await;

    assert!(get(client(&ca.pem(), None), &server.url()).await.is_err());
    assert!(server.next_handshake().await.is_err());

    let self_signed_client = self_signed(&["anyone.example"]);
    let response = get(client(&ca.pem(), Some(&self_signed_client)), &server.url())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(server.next_handshake().await.unwrap().client_certificate);
}

#[tokio::test]
async fn request_client_cert_asks_for_a_certificate_but_lets_clients_in_with_or_without_one() {
    let ca = Ca::new("clients");
    let (_setup, config) = mtls_setup(&ca, "RequestClientCert", "");
    let mut server = serve(&config).await;

    let response = get(client(&ca.pem(), None), &server.url()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!server.next_handshake().await.unwrap().client_certificate);

    let self_signed_client = self_signed(&["anyone.example"]);
    let response = get(client(&ca.pem(), Some(&self_signed_client)), &server.url())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(server.next_handshake().await.unwrap().client_certificate);
}

#[test]
fn prefer_server_cipher_suites_decides_whose_order_wins_and_defaults_to_the_servers() {
    let setup = Setup::new();
    setup.server(&self_signed(&["127.0.0.1"]));
    let base = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let default = setup.load(base).unwrap().tls_server_config().unwrap();
    assert!(default.ignore_client_order);
    let client_order = setup
        .load(&format!("{base}  prefer_server_cipher_suites: false\n"))
        .unwrap()
        .tls_server_config()
        .unwrap();
    assert!(!client_order.ignore_client_order);
}

#[test]
fn http2_is_reported_as_configured_and_alpn_stays_http_1_1() {
    let setup = Setup::new();
    setup.server(&self_signed(&["127.0.0.1"]));
    let config = setup
        .load(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  http2: false\n",
        )
        .unwrap();
    assert!(!config.http2());
    assert_eq!(
        config.tls_server_config().unwrap().alpn_protocols,
        vec![b"http/1.1".to_vec()]
    );
}

#[tokio::test]
async fn tls_with_basic_auth_answers_401_with_a_challenge_and_200_with_credentials() {
    let pair = self_signed(&["127.0.0.1"]);
    let setup = Setup::new();
    setup.server(&pair);
    let basic_auth_users = std::fs::read_to_string(fixture("basic_auth_only.good.yml")).unwrap();
    let config = setup
        .load(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
             Strict-Transport-Security: max-age=31536000\n{basic_auth_users}"
        ))
        .unwrap();
    let server = serve(&config).await;
    let http = client(&pair.cert, None).build().unwrap();

    let refused = http.get(server.url()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers()[WWW_AUTHENTICATE],
        "Basic realm=\"atlas-snapshot-exporter\", charset=\"UTF-8\""
    );
    assert_eq!(refused.headers()["x-frame-options"], "deny");

    let wrong = http
        .get(server.url())
        .basic_auth("alice", Some("battery staple"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let allowed = http
        .get(server.url())
        .basic_auth("alice", Some("correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["x-frame-options"], "deny");
    assert_eq!(
        allowed.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

/// The exporter's own server on 127.0.0.1:0 with `config`, and the checker it uses.
async fn serve_exporter(config: WebConfig) -> (String, Arc<BasicAuth>) {
    serve_exporter_with(config, false).await
}

/// [`serve_exporter`], with `--web.probes-without-auth` given or not.
async fn serve_exporter_with(
    config: WebConfig,
    probes_without_auth: bool,
) -> (String, Arc<BasicAuth>) {
    use arc_swap::ArcSwap;
    use atlas_snapshot_exporter::clock::{Clock, SystemClock};
    use atlas_snapshot_exporter::metrics::Metrics;
    use atlas_snapshot_exporter::server::{App, ServeOptions, serve};
    use atlas_snapshot_exporter::state::{ExporterState, ReloadStatus};

    let auth = config.basic_auth().expect("basic_auth_users is set");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = Arc::new(ArcSwap::from_pointee(ExporterState::default()));
    let reload = Arc::new(ArcSwap::from_pointee(ReloadStatus {
        successful: true,
        last_success: clock.now(),
    }));
    let app = Arc::new(App {
        metrics: Metrics::new(Arc::clone(&state), reload, Arc::clone(&clock)).unwrap(),
        state,
        telemetry_path: "/metrics".to_owned(),
        reloader: None,
        web: Arc::new(ArcSwap::from_pointee(config)),
        probes_without_auth,
        lifecycle: false,
        clock,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        app,
        // The flood opens more connections than the default cap: this test is about bcrypt.
        ServeOptions {
            max_connections: 4096,
            max_connections_per_peer: 4096,
            ..ServeOptions::default()
        },
        std::future::pending(),
    ));
    (url, auth)
}

/// Wrong-password requests for alice, each with a new password, from `connections` clients at
/// once until `stop` is set; returns every status seen.
fn flood_alice(
    url: &str,
    connections: usize,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinSet<Vec<StatusCode>> {
    let mut flood = tokio::task::JoinSet::new();
    // One client: each task keeps its own connection open, so `connections` run at once.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for c in 0..connections {
        let url = format!("{url}/-/healthy");
        let stop = Arc::clone(stop);
        let http = http.clone();
        flood.spawn(async move {
            let mut statuses = Vec::new();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let guess = format!("guess-{c}-{n}");
                match http.get(&url).basic_auth("alice", Some(guess)).send().await {
                    Ok(r) => statuses.push(r.status()),
                    Err(e) => panic!("flood request failed: {e}"),
                }
            }
            statuses
        });
    }
    flood
}

#[test]
fn a_flood_of_wrong_passwords_for_one_user_neither_delays_another_user_nor_starves_blocking_work() {
    // Few blocking threads, so that a flood holding them all would show as a stuck probe.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = WebConfig::load(&fixture("basic_auth_only.good.yml")).unwrap();
        let (url, auth) = serve_exporter(config).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut flood = flood_alice(&url, 300, &stop);
        // Wait until the flood has spent alice's budget many times over.
        while auth.refused_over_budget() < 300 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Blocking work (a reload reads its files on spawn_blocking) still finds a thread.
        // The bound is generous: a starved pool would hold the probe for the whole flood.
        let started = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(10), tokio::task::spawn_blocking(|| ()))
            .await
            .expect("a blocking task runs during the flood")
            .unwrap();
        eprintln!("blocking probe during the flood: {:?}", started.elapsed());

        let started = std::time::Instant::now();
        let bob = reqwest::Client::new()
            .get(format!("{url}/-/healthy"))
            .basic_auth("bob", Some("battery staple"))
            .send()
            .await
            .unwrap();
        eprintln!(
            "bob's first login during the flood: {:?}",
            started.elapsed()
        );
        assert_eq!(bob.status(), StatusCode::OK, "bob gets in during the flood");
        let bob_comparisons = 1;

        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut statuses = Vec::new();
        while let Some(joined) = flood.join_next().await {
            statuses.extend(joined.unwrap());
        }
        assert!(statuses.len() >= 300, "{} flood requests", statuses.len());
        assert!(
            statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
            "every guess is refused"
        );
        let flood_requests = statuses.len() as u64;
        eprintln!(
            "{flood_requests} wrong guesses: {} compared with bcrypt, {} refused over budget",
            auth.bcrypt_comparisons() - bob_comparisons,
            auth.refused_over_budget()
        );
        assert_eq!(
            auth.bcrypt_comparisons() + auth.refused_over_budget(),
            flood_requests + bob_comparisons,
            "each guess was either compared or refused over budget, bob's login compared once"
        );
        assert!(auth.refused_over_budget() >= 300);

        // Once the flood is over, alice's budget is back.
        let alice = reqwest::Client::new()
            .get(format!("{url}/-/healthy"))
            .basic_auth("alice", Some("correct horse"))
            .send()
            .await
            .unwrap();
        assert_eq!(alice.status(), StatusCode::OK);
    });
}

#[tokio::test]
async fn probes_sit_behind_basic_auth_unless_exempted_and_metrics_always_do() {
    let http = reqwest::Client::new();
    let status = |url: String, login: bool| {
        let request = http.get(url);
        let request = if login {
            request.basic_auth("alice", Some("correct horse"))
        } else {
            request
        };
        async move { request.send().await.unwrap().status() }
    };

    let config = WebConfig::load(&fixture("basic_auth_only.good.yml")).unwrap();
    let (url, _) = serve_exporter_with(config, false).await;
    for path in ["/-/healthy", "/-/ready", "/metrics", "/"] {
        assert_eq!(
            status(format!("{url}{path}"), false).await,
            StatusCode::UNAUTHORIZED,
            "{path} by default"
        );
    }
    assert_eq!(
        status(format!("{url}/-/healthy"), true).await,
        StatusCode::OK
    );

    let config = WebConfig::load(&fixture("basic_auth_only.good.yml")).unwrap();
    let (url, _) = serve_exporter_with(config, true).await;
    assert_eq!(
        status(format!("{url}/-/healthy"), false).await,
        StatusCode::OK
    );
    // Answered without credentials; not ready yet, as no cycle has run.
    assert_eq!(
        status(format!("{url}/-/ready"), false).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    for path in ["/metrics", "/", "/-/reload", "/-/healthy/", "/-/readyz"] {
        assert_eq!(
            status(format!("{url}{path}"), false).await,
            StatusCode::UNAUTHORIZED,
            "{path} with probes exempted"
        );
    }
    assert_eq!(status(format!("{url}/metrics"), true).await, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Connection limits of the exporter's own server

/// A flood of TCP connections that never send a ClientHello, more than the connection cap:
/// those over the cap are closed at once, the others when the handshake timeout fires, and a
/// real TLS scrape gets through while the flood's sockets are all still open on its side.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_silent_tls_connections_is_closed_and_a_real_scrape_gets_through() {
    use atlas_snapshot_exporter::exporter::{Exporter, ExporterOptions};
    use atlas_snapshot_exporter::server::ServeOptions;
    use atlas_snapshot_exporter::simulator::Scenario;
    use tokio::io::AsyncReadExt;

    let dir = TempDir::new().unwrap();
    let pair = self_signed(&["127.0.0.1"]);
    std::fs::write(dir.path().join("server.crt"), &pair.cert).unwrap();
    std::fs::write(dir.path().join("server.key"), &pair.key).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let scenario = Scenario::new().with_api_key("key", "secret");
    let config =
        atlas_snapshot_exporter::demo::config_for(&scenario, "http://127.0.0.1:9").unwrap();
    const CAP: usize = 4;
    let options = ExporterOptions {
        web_config_file: Some(web),
        serve: ServeOptions {
            max_connections: CAP,
            tls_handshake_timeout: Duration::from_millis(300),
            ..ServeOptions::default()
        },
        ..ExporterOptions::new("127.0.0.1:0")
    };
    let exporter = Exporter::build(config, options).await.unwrap();
    let addr = exporter.server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(exporter.server.serve(async {
        let _ = stopped.await;
    }));

    let mut silent = Vec::new();
    for _ in 0..CAP * 5 {
        silent.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let deadline = Duration::from_secs(20);
    let closed = async {
        for (i, stream) in silent.iter_mut().enumerate() {
            let mut buf = [0u8; 16];
            match tokio::time::timeout(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {}
                Ok(Ok(n)) => panic!("silent connection {i} got {n} bytes"),
                Err(_) => panic!("silent connection {i} was never closed"),
            }
        }
    };
    let root = reqwest::Certificate::from_pem(pair.cert.as_bytes()).unwrap();
    let https = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .unwrap();
    let scrape = async {
        let started = std::time::Instant::now();
        loop {
            // Refused (closed at once) while the flood holds the cap: try again.
            if let Ok(r) = https.get(format!("https://{addr}/metrics")).send().await {
                assert_eq!(r.status(), 200);
                return;
            }
            assert!(started.elapsed() < deadline, "no scrape got through");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::join!(closed, scrape);
    drop(silent);
    let _ = stop.send(());
    server.await.unwrap();
}

#[tokio::test]
async fn a_flood_from_one_address_leaves_room_for_scrapers_from_another() {
    use atlas_snapshot_exporter::exporter::{Exporter, ExporterOptions};
    use atlas_snapshot_exporter::server::ServeOptions;
    use atlas_snapshot_exporter::simulator::Scenario;
    use tokio::io::AsyncReadExt;

    let scenario = Scenario::new().with_api_key("key", "secret");
    let config =
        atlas_snapshot_exporter::demo::config_for(&scenario, "http://127.0.0.1:9").unwrap();
    const PER_PEER: usize = 4;
    let options = ExporterOptions {
        serve: ServeOptions {
            max_connections: 16,
            max_connections_per_peer: PER_PEER,
            // Silent connections stay open for the whole test unless the caps close them.
            header_read_timeout: Duration::from_secs(60),
            ..ServeOptions::default()
        },
        ..ExporterOptions::new("127.0.0.1:0")
    };
    let exporter = Exporter::build(config, options).await.unwrap();
    let addr = exporter.server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(exporter.server.serve(async {
        let _ = stopped.await;
    }));

    // 40 silent connections from 127.0.0.2, more than the whole cap: only PER_PEER stay.
    let flooder: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let mut silent = Vec::new();
    for _ in 0..40 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(flooder, 0)).unwrap();
        silent.push(socket.connect(addr).await.unwrap());
    }
    let mut open = 0;
    for stream in &mut silent {
        let mut buf = [0u8; 1];
        // A connection over the cap is closed at once; one within it stays silent.
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(_)) => panic!("a silent connection got bytes"),
            Err(_) => open += 1,
        }
    }
    assert_eq!(open, PER_PEER, "connections the flooding address keeps");
    // A scrape from another address gets through at the first try while the flood holds.
    let r = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(silent);
    let _ = stop.send(());
    server.await.unwrap();
}

#[test]
fn an_endless_certificate_file_is_refused_after_1_mib() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: /dev/zero\n  key_file: /dev/zero\n",
    )
    .unwrap();
    let err = WebConfig::load(&path).unwrap_err().to_string();
    assert!(err.contains("/dev/zero"), "{err}");
    assert!(err.contains("the limit is 1 MiB"), "{err}");
}
