//! Why a web config file was refused ([`WebConfigError`]), and [`Source`]: the file every
//! message names and the directory its referenced files are read from.
//!
//! Every other web_config module reports through this one, so it depends on none of them.

use std::path::{Path, PathBuf};

/// The top-level key of the TLS settings, where the client-certificate ones live too: the first
/// part of the key path in every error about them.
pub(super) const TLS_SECTION: &str = "tls_server_config";

/// Why a web config file was refused. Every message starts with the file name, names the key
/// (as a path like `tls_server_config.min_version` or `basic_auth_users.alice`) and says what is
/// wrong. No message quotes a password hash, an inline private key or a password.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The web config file itself could not be read.
    #[error("{file}: cannot read the web config file: {error}")]
    Read {
        /// The web config file, as given.
        file: String,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The web config file is over [`crate::small_file::MAX_FILE_BYTES`].
    #[error("{file}: {size}")]
    TooLarge {
        /// The web config file, as given.
        file: String,
        /// How large it is.
        size: crate::small_file::TooLarge,
    },
    /// The file is not valid YAML, has an unknown key, or a value of the wrong type.
    #[error("{file}: {message}")]
    Syntax {
        /// The web config file, as given.
        file: String,
        /// The YAML parser's message, with the key path and line.
        message: String,
    },
    /// A key has a value that is not allowed.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The web config file, as given.
        file: String,
        /// The key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A key that exporter-toolkit knows but this exporter cannot honour: rejected rather than
    /// ignored, since each is a security or traffic setting.
    #[error("{file}: {key}: {message}")]
    Unsupported {
        /// The web config file, as given.
        file: String,
        /// The key path.
        key: String,
        /// What is not supported and what to use instead.
        message: String,
    },
    /// A file named in the web config (certificate, key, client CA) could not be read.
    #[error("{file}: {key}: cannot read {referenced}: {error}")]
    ReadReferenced {
        /// The web config file, as given.
        file: String,
        /// The key that names the file.
        key: String,
        /// The file, resolved against the web config file's directory.
        referenced: String,
        /// What the operating system said.
        error: std::io::Error,
    },
}

impl WebConfigError {
    /// The key path the error is about, when it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            WebConfigError::Read { .. }
            | WebConfigError::TooLarge { .. }
            | WebConfigError::Syntax { .. } => None,
            WebConfigError::Invalid { key, .. }
            | WebConfigError::Unsupported { key, .. }
            | WebConfigError::ReadReferenced { key, .. } => Some(key),
        }
    }
}

/// Where the config came from: the name for messages and the base for relative paths.
pub(super) struct Source {
    /// The file name, as given: the start of every message.
    pub(super) file: String,
    dir: PathBuf,
}

impl Source {
    pub(super) fn new(path: &Path) -> Source {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Source {
            file: path.display().to_string(),
            dir,
        }
    }

    pub(super) fn invalid(
        &self,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> WebConfigError {
        WebConfigError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    pub(super) fn unsupported(
        &self,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> WebConfigError {
        WebConfigError::Unsupported {
            file: self.file.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// A file name from the config, relative to the config file's directory unless absolute.
    pub(super) fn resolve(&self, name: &str) -> PathBuf {
        let path = Path::new(name);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    pub(super) fn read_referenced(&self, key: &str, name: &str) -> Result<Vec<u8>, WebConfigError> {
        let path = self.resolve(name);
        crate::small_file::read(&path).map_err(|error| WebConfigError::ReadReferenced {
            file: self.file.clone(),
            key: key.to_string(),
            referenced: path.display().to_string(),
            error: error.into(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn relative_file_names_resolve_against_the_config_directory() {
        let source = Source::new(Path::new("/etc/exporter/web.yml"));
        assert_eq!(
            source.resolve("tls/server.crt"),
            Path::new("/etc/exporter/tls/server.crt")
        );
        assert_eq!(
            source.resolve("/abs/server.crt"),
            Path::new("/abs/server.crt")
        );
        let bare = Source::new(Path::new("web.yml"));
        assert_eq!(bare.resolve("server.crt"), Path::new("./server.crt"));
    }
}
