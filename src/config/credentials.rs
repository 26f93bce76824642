//! Credentials resolution: each credential from its inline key, its `*_file` key or its
//! environment variable (the file winning value by value), then exactly one complete method,
//! an API key pair or a service account. No message ever quotes a credential.

use std::fmt;
use std::path::{Path, PathBuf};

use super::walker::{Checker, Node, child};
use super::{
    Credentials, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_PRIVATE_API_KEY, ENV_PUBLIC_API_KEY,
};
use crate::secret::Secret;

/// Where credentials can come from besides the inline keys: the environment, and the files the
/// `*_file` keys name.
pub(super) struct Sources<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    /// Directory relative `*_file` paths are read from.
    base_dir: PathBuf,
    /// Whether there is a config file at all (else only the environment can give credentials).
    in_file: bool,
}

impl<'e> Sources<'e> {
    /// For a config file: `env`, and `*_file` paths relative to `base_dir`.
    pub(super) fn file(env: &'e dyn Fn(&str) -> Option<String>, base_dir: PathBuf) -> Self {
        Sources {
            env,
            base_dir,
            in_file: true,
        }
    }

    /// With no config file: `env` only.
    pub(super) fn environment(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Sources {
            env,
            base_dir: PathBuf::new(),
            in_file: false,
        }
    }
}

/// Where a credential came from, for messages that must say so without quoting it.
#[derive(Debug, Clone, Copy)]
enum Source {
    Key(&'static str),
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Key(key) => write!(f, "atlas.{key}"),
            Source::Env(name) => write!(f, "the environment variable {name}"),
        }
    }
}

/// One credential value after looking at the file and the environment.
#[derive(Debug)]
enum Cred {
    Absent,
    /// Given; `value` is `None` when it was given but unusable (a problem is already recorded).
    Present {
        value: Option<String>,
        source: Source,
    },
}

impl Cred {
    fn is_present(&self) -> bool {
        matches!(self, Cred::Present { .. })
    }

    fn source(&self) -> Option<Source> {
        match self {
            Cred::Absent => None,
            Cred::Present { source, .. } => Some(*source),
        }
    }

    fn value(&self) -> Option<&str> {
        match self {
            Cred::Present {
                value: Some(value), ..
            } => Some(value),
            _ => None,
        }
    }
}

/// A credential key as found in the `atlas` section: `None` when absent, `Some(None)` when
/// given but wrong (already reported), `Some(Some(text))` otherwise.
type Slot = Option<Option<String>>;

/// The six credential keys of the `atlas` section.
#[derive(Default)]
pub(super) struct CredentialKeys {
    public_key: Slot,
    private_key: Slot,
    private_key_file: Slot,
    client_id: Slot,
    client_secret: Slot,
    client_secret_file: Slot,
}

impl CredentialKeys {
    /// Where the value of `key`, one of the six credential keys, goes.
    pub(super) fn slot(&mut self, key: &str) -> &mut Slot {
        match key {
            "public_key" => &mut self.public_key,
            "private_key" => &mut self.private_key,
            "private_key_file" => &mut self.private_key_file,
            "client_id" => &mut self.client_id,
            "client_secret" => &mut self.client_secret,
            _ => &mut self.client_secret_file,
        }
    }
}

/// One credential: its keys in the file and its environment variable.
struct CredentialSpec {
    /// What it is, in messages: "the public key".
    what: &'static str,
    inline_key: &'static str,
    file_key: Option<&'static str>,
    env: &'static str,
}

const PUBLIC_KEY: CredentialSpec = CredentialSpec {
    what: "the public key",
    inline_key: "public_key",
    file_key: None,
    env: ENV_PUBLIC_API_KEY,
};
const PRIVATE_KEY: CredentialSpec = CredentialSpec {
    what: "the private key",
    inline_key: "private_key",
    file_key: Some("private_key_file"),
    env: ENV_PRIVATE_API_KEY,
};
const CLIENT_ID: CredentialSpec = CredentialSpec {
    what: "the client id",
    inline_key: "client_id",
    file_key: None,
    env: ENV_CLIENT_ID,
};
const CLIENT_SECRET: CredentialSpec = CredentialSpec {
    what: "the client secret",
    inline_key: "client_secret",
    file_key: Some("client_secret_file"),
    env: ENV_CLIENT_SECRET,
};

impl CredentialSpec {
    /// Where this credential can be set, for a message saying it is missing.
    fn where_to_set(&self, in_file: bool) -> String {
        if !in_file {
            return format!("the environment variable {}", self.env);
        }
        match self.file_key {
            Some(file_key) => format!(
                "atlas.{}, atlas.{file_key} or the environment variable {}",
                self.inline_key, self.env
            ),
            None => format!(
                "atlas.{} or the environment variable {}",
                self.inline_key, self.env
            ),
        }
    }
}

impl Checker {
    /// A credential key's text, trimmed. Never quoted in a message.
    pub(super) fn credential_text(&mut self, path: &str, node: &Node) -> Slot {
        match node {
            Node::Null => None,
            Node::String(text) if text.trim().is_empty() => {
                self.problem(path, "is empty; leave the key out or give a value");
                Some(None)
            }
            Node::String(text) => Some(Some(text.trim().to_owned())),
            other => {
                self.wrong_type(path, "a string", other);
                Some(None)
            }
        }
    }

    /// Resolves the four credentials (file first, then the environment) and checks that they
    /// make exactly one complete method.
    pub(super) fn credentials(
        &mut self,
        path: &str,
        keys: CredentialKeys,
        sources: &Sources,
    ) -> Option<Credentials> {
        let public_key = self.credential(path, &PUBLIC_KEY, keys.public_key, None, sources);
        let private_key = self.credential(
            path,
            &PRIVATE_KEY,
            keys.private_key,
            keys.private_key_file,
            sources,
        );
        let client_id = self.credential(path, &CLIENT_ID, keys.client_id, None, sources);
        let client_secret = self.credential(
            path,
            &CLIENT_SECRET,
            keys.client_secret,
            keys.client_secret_file,
            sources,
        );

        let api_key = [(&PUBLIC_KEY, &public_key), (&PRIVATE_KEY, &private_key)];
        let service_account = [(&CLIENT_ID, &client_id), (&CLIENT_SECRET, &client_secret)];
        let in_file = sources.in_file;
        let api_key_any = self.check_pair(path, "API key pair", &api_key, in_file);
        let service_account_any =
            self.check_pair(path, "service account", &service_account, in_file);

        match (api_key_any, service_account_any) {
            (false, false) => {
                let message = if in_file {
                    format!(
                        "no credentials: set an API key pair (atlas.public_key with atlas.private_key or \
                         atlas.private_key_file, or the environment variables {ENV_PUBLIC_API_KEY} and \
                         {ENV_PRIVATE_API_KEY}) or a service account (atlas.client_id with \
                         atlas.client_secret or atlas.client_secret_file, or the environment variables \
                         {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET})"
                    )
                } else {
                    format!(
                        "no credentials: set the environment variables {ENV_PUBLIC_API_KEY} and \
                         {ENV_PRIVATE_API_KEY} (an API key pair) or {ENV_CLIENT_ID} and \
                         {ENV_CLIENT_SECRET} (a service account), or use a config file"
                    )
                };
                self.problem(path, message);
                None
            }
            (true, true) => {
                if public_key.is_present()
                    && private_key.is_present()
                    && client_id.is_present()
                    && client_secret.is_present()
                {
                    self.problem(
                        path,
                        format!(
                            "both an API key pair (from {} and {}) and a service account (from {} and {}) \
                             are set; choose one and remove the other",
                            describe(&public_key),
                            describe(&private_key),
                            describe(&client_id),
                            describe(&client_secret),
                        ),
                    );
                }
                None
            }
            (true, false) => Some(Credentials::ApiKey {
                public_key: public_key.value()?.to_owned(),
                private_key: Secret::new(private_key.value()?),
            }),
            (false, true) => Some(Credentials::ServiceAccount {
                client_id: client_id.value()?.to_owned(),
                client_secret: Secret::new(client_secret.value()?),
            }),
        }
    }

    /// Reports half a pair. Returns whether any half is given.
    fn check_pair(
        &mut self,
        path: &str,
        name: &str,
        pair: &[(&CredentialSpec, &Cred); 2],
        in_file: bool,
    ) -> bool {
        let [(first_spec, first), (second_spec, second)] = *pair;
        let (given_spec, given, missing_spec) = match (first.source(), second.source()) {
            (None, None) => return false,
            (Some(_), Some(_)) => return true,
            (Some(source), None) => (first_spec, source, second_spec),
            (None, Some(source)) => (second_spec, source, first_spec),
        };
        self.problem(
            path,
            format!(
                "the {name} is incomplete: {} is set (from {given}) but {} is missing; set {}",
                given_spec.what,
                missing_spec.what,
                missing_spec.where_to_set(in_file),
            ),
        );
        true
    }

    /// One credential: the inline key, else the file key, else the environment.
    fn credential(
        &mut self,
        path: &str,
        spec: &CredentialSpec,
        inline: Slot,
        file: Slot,
        sources: &Sources,
    ) -> Cred {
        match (inline, file, spec.file_key) {
            (Some(_), Some(_), Some(file_key)) => {
                self.problem(
                    &child(path, file_key),
                    format!(
                        "cannot be set together with {}; keep one",
                        child(path, spec.inline_key)
                    ),
                );
                Cred::Present {
                    value: None,
                    source: Source::Key(file_key),
                }
            }
            (Some(value), _, _) => Cred::Present {
                value,
                source: Source::Key(spec.inline_key),
            },
            (None, Some(file_path), Some(file_key)) => Cred::Present {
                value: file_path.and_then(|p| {
                    self.read_secret_file(&child(path, file_key), &sources.base_dir.join(p))
                }),
                source: Source::Key(file_key),
            },
            _ => match (sources.env)(spec.env) {
                Some(value) if !value.trim().is_empty() => Cred::Present {
                    value: Some(value.trim().to_owned()),
                    source: Source::Env(spec.env),
                },
                _ => Cred::Absent,
            },
        }
    }

    /// Reads a credential file, trimmed. Messages name the file, never its content.
    fn read_secret_file(&mut self, path: &str, file: &Path) -> Option<String> {
        match crate::small_file::read_to_string(file) {
            Ok(text) if text.trim().is_empty() => {
                self.problem(path, format!("the file {} is empty", file.display()));
                None
            }
            Ok(text) => Some(text.trim().to_owned()),
            Err(err) => {
                self.problem(path, format!("cannot read {}: {err}", file.display()));
                None
            }
        }
    }
}

/// Where a credential came from, for the "choose one" message.
fn describe(cred: &Cred) -> String {
    cred.source().map(|s| s.to_string()).unwrap_or_default()
}
