//! Reading the small files the user names (the config file, the web config file, and the
//! credential, certificate and key files they point to) under one size cap, so that a huge or
//! endless file (`/dev/zero`, say) is refused after at most [`MAX_FILE_BYTES`] bytes instead of
//! being read whole.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The largest config or web config file accepted: 1 MiB, hundreds of times a large real one.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Opening or reading failed, or the file is not UTF-8.
    Io(io::Error),
    /// The file is over [`MAX_FILE_BYTES`].
    TooLarge(TooLarge),
}

/// A file over [`MAX_FILE_BYTES`]; displays as `the file is N bytes; the limit is 1 MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// Its size when the file system knows it; `None` for a pipe or device, read no further
    /// than the limit.
    pub bytes: Option<u64>,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bytes {
            Some(bytes) => write!(f, "the file is {bytes} bytes"),
            None => write!(f, "the file is more than {MAX_FILE_BYTES} bytes"),
        }?;
        f.write_str("; the limit is 1 MiB")
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::TooLarge(t) => t.fmt(f),
        }
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Io(e) => e,
            ReadError::TooLarge(t) => io::Error::new(io::ErrorKind::InvalidData, t.to_string()),
        }
    }
}

/// Reads `path` as UTF-8 text of at most [`MAX_FILE_BYTES`]; never reads more than one byte
/// past the limit, whatever the file's size.
pub fn read_to_string(path: &Path) -> Result<String, ReadError> {
    String::from_utf8(read(path)?)
        .map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, e.utf8_error())))
}

/// Reads `path` whole, at most [`MAX_FILE_BYTES`]; never reads more than one byte past the
/// limit, whatever the file's size.
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path).map_err(ReadError::Io)?;
    let known = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    if let Some(bytes) = known.filter(|&len| len > MAX_FILE_BYTES) {
        return Err(ReadError::TooLarge(TooLarge { bytes: Some(bytes) }));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        // Grown since the metadata was read, or a stream without a size.
        let bytes = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file() && m.len() > MAX_FILE_BYTES)
            .map(|m| m.len());
        return Err(ReadError::TooLarge(TooLarge { bytes }));
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_the_limit_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'#'; MAX_FILE_BYTES as usize]).unwrap();
        assert_eq!(
            read_to_string(&path).unwrap().len(),
            MAX_FILE_BYTES as usize
        );
        std::fs::write(&path, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let Err(ReadError::TooLarge(too_large)) = read_to_string(&path) else {
            panic!("expected TooLarge");
        };
        assert_eq!(
            too_large.to_string(),
            "the file is 1048577 bytes; the limit is 1 MiB"
        );
    }

    #[test]
    fn a_size_the_file_system_does_not_know_says_more_than_the_limit() {
        assert_eq!(
            TooLarge { bytes: None }.to_string(),
            "the file is more than 1048576 bytes; the limit is 1 MiB"
        );
    }
}
