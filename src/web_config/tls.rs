//! `tls_server_config`: turns exporter-toolkit's Go-flavoured TLS settings into a
//! [`rustls::ServerConfig`] on the aws-lc-rs provider (the one reqwest already uses), and
//! refuses the settings rustls cannot honour instead of dropping them.

use std::sync::Arc;

use rustls::crypto::{CryptoProvider, SupportedKxGroup, aws_lc_rs};
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::client_cert::{self, ClientAuthType};
use super::error::{Source, TLS_SECTION, WebConfigError};

/// `tls_server_config` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of TLS settings")]
pub(super) struct RawTlsServerConfig {
    #[serde(default)]
    cert: Option<String>,
    // A YAML value so that no parser message can quote the key.
    #[serde(default)]
    key: Option<serde_yaml::Value>,
    #[serde(default)]
    client_ca: Option<String>,
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<String>,
    #[serde(default)]
    client_allowed_sans: Option<Vec<String>>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Option<Vec<String>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    curve_preferences: Option<Vec<String>>,
}

impl RawTlsServerConfig {
    fn is_empty(&self) -> bool {
        let RawTlsServerConfig {
            cert,
            key,
            client_ca,
            cert_file,
            key_file,
            client_auth_type,
            client_ca_file,
            client_allowed_sans,
            min_version,
            max_version,
            cipher_suites,
            prefer_server_cipher_suites,
            curve_preferences,
        } = self;
        cert.is_none()
            && key.as_ref().is_none_or(serde_yaml::Value::is_null)
            && client_ca.is_none()
            && cert_file.is_none()
            && key_file.is_none()
            && client_auth_type.is_none()
            && client_ca_file.is_none()
            && client_allowed_sans.is_none()
            && min_version.is_none()
            && max_version.is_none()
            && cipher_suites.is_none()
            && prefer_server_cipher_suites.is_none()
            && curve_preferences.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Tls12,
    Tls13,
}

impl Version {
    fn name(self) -> &'static str {
        match self {
            Version::Tls12 => "TLS12",
            Version::Tls13 => "TLS13",
        }
    }

    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            Version::Tls12 => &rustls::version::TLS12,
            Version::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// The cipher suites rustls implements on aws-lc-rs, under the names Go (and IANA) give them.
/// Go's other secure suites (ECDHE with AES-CBC) and its RSA-key-exchange suites are not here.
const CIPHER_SUITES: &[(&str, Version, SupportedCipherSuite)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        Version::Tls13,
        aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        Version::Tls13,
        aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        Version::Tls13,
        aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        Version::Tls12,
        aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        Version::Tls12,
        aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Version::Tls12,
        aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Version::Tls12,
        aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Version::Tls12,
        aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        Version::Tls12,
        aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Builds the server config, or `None` when the section sets nothing. Returns the client auth
/// type alongside, for the startup log.
pub(super) fn build(
    source: &Source,
    raw: RawTlsServerConfig,
) -> Result<Option<(Arc<ServerConfig>, ClientAuthType)>, WebConfigError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let key_secret = inline_key(source, raw.key)?;
    let cert_pem = one_of(source, ("cert", raw.cert), ("cert_file", raw.cert_file))?;
    let key_pem = one_of(source, ("key", key_secret), ("key_file", raw.key_file))?;
    let client_ca_pem = one_of(
        source,
        ("client_ca", raw.client_ca),
        ("client_ca_file", raw.client_ca_file),
    )?;
    let Some(cert_pem) = cert_pem else {
        return Err(source.invalid(TLS_SECTION, "missing one of cert or cert_file"));
    };
    let Some(key_pem) = key_pem else {
        return Err(source.invalid(TLS_SECTION, "missing one of key or key_file"));
    };

    let client_auth = match raw.client_auth_type.as_deref() {
        None => ClientAuthType::NoClientCert,
        Some(name) => ClientAuthType::parse(name).ok_or_else(|| {
            source.invalid(
                format!("{TLS_SECTION}.client_auth_type"),
                format!(
                    "unknown client auth type {name:?}; expected one of: {}",
                    ClientAuthType::NAMES.join(", ")
                ),
            )
        })?,
    };
    if client_auth.verifies() && client_ca_pem.is_none() {
        return Err(source.invalid(
            format!("{TLS_SECTION}.client_auth_type"),
            format!(
                "{client_auth} verifies client certificates and needs client_ca_file (or client_ca)"
            ),
        ));
    }
    if let Some(ca) = &client_ca_pem
        && client_auth == ClientAuthType::NoClientCert
    {
        return Err(source.invalid(
            format!("{TLS_SECTION}.{}", ca.key),
            "a client CA is configured but client_auth_type is NoClientCert; \
             set client_auth_type to RequireAndVerifyClientCert",
        ));
    }
    let allowed_sans = match raw.client_allowed_sans {
        None => None,
        Some(sans) => {
            let key = format!("{TLS_SECTION}.client_allowed_sans");
            if !client_auth.requires() {
                return Err(source.invalid(
                    key,
                    "client_allowed_sans requires client_auth_type to be one of \
                     RequireAnyClientCert or RequireAndVerifyClientCert",
                ));
            }
            if sans.is_empty() {
                return Err(source.invalid(key, "the list is empty and would reject every client"));
            }
            Some(sans)
        }
    };

    let min = version(
        source,
        "min_version",
        raw.min_version.as_deref(),
        Version::Tls12,
    )?;
    let max = version(
        source,
        "max_version",
        raw.max_version.as_deref(),
        Version::Tls13,
    )?;
    if min > max {
        return Err(source.invalid(
            format!("{TLS_SECTION}.min_version"),
            format!("{} is above max_version {}", min.name(), max.name()),
        ));
    }
    let versions: Vec<&'static SupportedProtocolVersion> = [Version::Tls13, Version::Tls12]
        .into_iter()
        .filter(|v| (min..=max).contains(v))
        .map(Version::rustls)
        .collect();

    let provider = Arc::new(CryptoProvider {
        cipher_suites: cipher_suites(source, raw.cipher_suites.as_deref(), min, max)?,
        kx_groups: kx_groups(source, raw.curve_preferences.as_deref())?,
        ..aws_lc_rs::default_provider()
    });

    let chain = certificates(source, &cert_pem)?;
    let private_key = private_key(source, &key_pem)?;
    let client_ca = match &client_ca_pem {
        Some(ca) => Some(root_store(source, ca)?),
        None => None,
    };
    let verifier = client_cert::verifier(source, client_auth, client_ca, &provider, allowed_sans)?;

    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| {
            source.invalid(
                TLS_SECTION,
                format!("cannot build the TLS configuration: {e}"),
            )
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, private_key)
        .map_err(|e| {
            let message = match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key does not match the certificate".to_string()
                }
                other => format!("the certificate or key cannot be used: {other}"),
            };
            source.invalid(key_pem.full_key(), message)
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(true);
    Ok(Some((Arc::new(config), client_auth)))
}

/// Where one PEM item is: inline in the YAML (`cert`, `key`, `client_ca`) or in a named file
/// (`cert_file`, `key_file`, `client_ca_file`); `key` is the key it was given under.
struct PemSource<T> {
    key: &'static str,
    location: Location<T>,
}

enum Location<T> {
    Inline(T),
    File(String),
}

/// At most one of an inline value and a file name; neither may be empty.
fn one_of<T: AsRef<str>>(
    source: &Source,
    inline: (&'static str, Option<T>),
    file: (&'static str, Option<String>),
) -> Result<Option<PemSource<T>>, WebConfigError> {
    match (inline.1, file.1) {
        (Some(_), Some(_)) => Err(source.invalid(
            TLS_SECTION,
            format!("{} and {} are both set; use one", inline.0, file.0),
        )),
        (Some(value), None) if value.as_ref().is_empty() => {
            Err(source.invalid(format!("{TLS_SECTION}.{}", inline.0), "is empty"))
        }
        (None, Some(name)) if name.is_empty() => {
            Err(source.invalid(format!("{TLS_SECTION}.{}", file.0), "is empty"))
        }
        (Some(value), None) => Ok(Some(PemSource {
            key: inline.0,
            location: Location::Inline(value),
        })),
        (None, Some(name)) => Ok(Some(PemSource {
            key: file.0,
            location: Location::File(name),
        })),
        (None, None) => Ok(None),
    }
}

impl<T: AsRef<str>> PemSource<T> {
    /// The PEM bytes, read from the file when there is one. Wiped on drop, as they may be a key.
    fn bytes(&self, source: &Source) -> Result<Zeroizing<Vec<u8>>, WebConfigError> {
        match &self.location {
            Location::Inline(text) => Ok(Zeroizing::new(text.as_ref().as_bytes().to_vec())),
            Location::File(name) => source
                .read_referenced(&self.full_key(), name)
                .map(Zeroizing::new),
        }
    }

    fn full_key(&self) -> String {
        format!("{TLS_SECTION}.{}", self.key)
    }

    /// How a message refers to the PEM text.
    fn origin(&self) -> &'static str {
        match self.location {
            Location::Inline(_) => "the value",
            Location::File(_) => "the file",
        }
    }
}

/// The inline `key`, without ever quoting it.
fn inline_key(
    source: &Source,
    value: Option<serde_yaml::Value>,
) -> Result<Option<Zeroizing<String>>, WebConfigError> {
    match value {
        None | Some(serde_yaml::Value::Null) => Ok(None),
        Some(serde_yaml::Value::String(text)) => Ok(Some(Zeroizing::new(text))),
        Some(_) => Err(source.invalid(
            format!("{TLS_SECTION}.key"),
            "must be a string holding a PEM private key",
        )),
    }
}

fn version(
    source: &Source,
    key: &str,
    value: Option<&str>,
    default: Version,
) -> Result<Version, WebConfigError> {
    let full_key = format!("{TLS_SECTION}.{key}");
    match value {
        None => Ok(default),
        Some("TLS12") => Ok(Version::Tls12),
        Some("TLS13") => Ok(Version::Tls13),
        Some(old @ ("TLS10" | "TLS11")) => Err(source.unsupported(
            full_key,
            format!(
                "{old} is not supported: rustls implements TLS 1.2 and TLS 1.3 only; \
                 use TLS12 or TLS13"
            ),
        )),
        Some(other) => Err(source.invalid(
            full_key,
            format!("unknown TLS version {other:?}; expected TLS12 or TLS13"),
        )),
    }
}

/// The provider's suites. A version the list names no suite of keeps all of that version's
/// suites (Go's `cipher_suites` never touches TLS 1.3, and an empty list means the defaults).
fn cipher_suites(
    source: &Source,
    names: Option<&[String]>,
    min: Version,
    max: Version,
) -> Result<Vec<SupportedCipherSuite>, WebConfigError> {
    let defaults = aws_lc_rs::default_provider().cipher_suites;
    let Some(names) = names.filter(|n| !n.is_empty()) else {
        return Ok(defaults);
    };
    let mut chosen: Vec<(Version, SupportedCipherSuite)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let key = format!("{TLS_SECTION}.cipher_suites[{i}]");
        let Some((_, version, suite)) = CIPHER_SUITES.iter().find(|(n, _, _)| n == name) else {
            let known: Vec<&str> = CIPHER_SUITES.iter().map(|(n, _, _)| *n).collect();
            return Err(source.unsupported(
                key,
                format!(
                    "cipher suite {name:?} is not supported; rustls offers: {}",
                    known.join(", ")
                ),
            ));
        };
        if !(min..=max).contains(version) {
            return Err(source.invalid(
                key,
                format!(
                    "{name} is a {} suite, but min_version/max_version leave {} out",
                    version.name(),
                    version.name()
                ),
            ));
        }
        if !chosen.iter().any(|(_, s)| s.suite() == suite.suite()) {
            chosen.push((*version, *suite));
        }
    }
    let mut suites = Vec::new();
    for version in [Version::Tls13, Version::Tls12]
        .into_iter()
        .filter(|v| (min..=max).contains(v))
    {
        let named: Vec<SupportedCipherSuite> = chosen
            .iter()
            .filter(|(v, _)| *v == version)
            .map(|(_, s)| *s)
            .collect();
        if named.is_empty() {
            suites.extend(defaults.iter().filter(|s| s.version() == version.rustls()));
        } else {
            suites.extend(named);
        }
    }
    Ok(suites)
}

/// Key exchange groups in the order given; without a list, the provider's defaults (which
/// include the post-quantum hybrid X25519MLKEM768).
fn kx_groups(
    source: &Source,
    names: Option<&[String]>,
) -> Result<Vec<&'static dyn SupportedKxGroup>, WebConfigError> {
    let Some(names) = names.filter(|n| !n.is_empty()) else {
        return Ok(aws_lc_rs::default_provider().kx_groups);
    };
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let key = format!("{TLS_SECTION}.curve_preferences[{i}]");
        let group = match name.as_str() {
            "X25519" => aws_lc_rs::kx_group::X25519,
            "CurveP256" => aws_lc_rs::kx_group::SECP256R1,
            "CurveP384" => aws_lc_rs::kx_group::SECP384R1,
            "CurveP521" => {
                return Err(source.unsupported(
                    key,
                    "CurveP521 is not supported by rustls; use X25519, CurveP256 or CurveP384",
                ));
            }
            other => {
                return Err(source.invalid(
                    key,
                    format!(
                        "unknown curve {other:?}; expected one of: X25519, CurveP256, CurveP384"
                    ),
                ));
            }
        };
        if !groups.iter().any(|g| g.name() == group.name()) {
            groups.push(group);
        }
    }
    Ok(groups)
}

fn certificates<T: AsRef<str>>(
    source: &Source,
    pem: &PemSource<T>,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let bytes = pem.bytes(source)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            source.invalid(
                pem.full_key(),
                format!("{} is not valid PEM: {e}", pem.origin()),
            )
        })?;
    if chain.is_empty() {
        return Err(source.invalid(
            pem.full_key(),
            format!("{} holds no PEM certificate", pem.origin()),
        ));
    }
    Ok(chain)
}

fn private_key<T: AsRef<str>>(
    source: &Source,
    pem: &PemSource<T>,
) -> Result<PrivateKeyDer<'static>, WebConfigError> {
    let bytes = pem.bytes(source)?;
    // The PEM error is not quoted: it may carry a line of the key.
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let problem = match e {
            rustls_pki_types::pem::Error::NoItemsFound => "holds no PEM private key",
            _ => "is not a valid PEM private key",
        };
        source.invalid(
            pem.full_key(),
            format!(
                "{} {problem} (expected PKCS#8 \"PRIVATE KEY\", PKCS#1 \"RSA PRIVATE KEY\" \
                 or SEC1 \"EC PRIVATE KEY\")",
                pem.origin()
            ),
        )
    })
}

fn root_store<T: AsRef<str>>(
    source: &Source,
    pem: &PemSource<T>,
) -> Result<Arc<RootCertStore>, WebConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(source, pem)? {
        roots.add(cert).map_err(|e| {
            source.invalid(
                pem.full_key(),
                format!(
                    "{} holds a certificate that cannot be a trust anchor: {e}",
                    pem.origin()
                ),
            )
        })?;
    }
    Ok(Arc::new(roots))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cipher_suite_list_naming_only_tls12_suites_keeps_tls13_at_its_defaults() {
        let source = Source::new(std::path::Path::new("web.yml"));
        let names = vec!["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_string()];
        let suites = cipher_suites(&source, Some(&names), Version::Tls12, Version::Tls13).unwrap();
        let tls12: Vec<_> = suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            tls12,
            vec![rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
        );
        let tls13 = suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .count();
        assert_eq!(tls13, 3);
    }

    #[test]
    fn a_cipher_suite_list_keeps_the_order_given_within_a_version() {
        let source = Source::new(std::path::Path::new("web.yml"));
        let names = vec![
            "TLS_CHACHA20_POLY1305_SHA256".to_string(),
            "TLS_AES_128_GCM_SHA256".to_string(),
        ];
        let suites = cipher_suites(&source, Some(&names), Version::Tls13, Version::Tls13).unwrap();
        let order: Vec<_> = suites.iter().map(|s| s.suite()).collect();
        assert_eq!(
            order,
            vec![
                rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
            ]
        );
    }

    #[test]
    fn curve_preferences_become_key_exchange_groups_in_order() {
        let source = Source::new(std::path::Path::new("web.yml"));
        let names = vec!["CurveP384".to_string(), "X25519".to_string()];
        let groups = kx_groups(&source, Some(&names)).unwrap();
        let order: Vec<_> = groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            order,
            vec![rustls::NamedGroup::secp384r1, rustls::NamedGroup::X25519]
        );
    }
}
