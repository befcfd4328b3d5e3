//! API keys and passwords: readable by the code that sends them, invisible to
//! `Debug`, `Display`, logs and error messages (DESIGN §3 invariant 6).
use std::fmt;
use std::path::Path;

/// A secret string. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the one place that sends it upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// Reads a secret file (a mounted Kubernetes Secret), trimming the trailing
    /// newline editors and `kubectl create secret --from-file` leave behind.
    /// The error names the path, never the content.
    pub fn from_file(path: &Path) -> Result<Self, SecretFileError> {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| SecretFileError { path: path.display().to_string(), reason: e.to_string() })?;
        let s = raw.trim();
        if s.is_empty() {
            return Err(SecretFileError { path: path.display().to_string(), reason: "file is empty".into() });
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read secret file {path}: {reason}")]
pub struct SecretFileError {
    pub path: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s} {:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_is_trimmed_and_errors_name_only_the_path() {
        let dir = std::env::temp_dir().join(format!("gridshift-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("key");
        std::fs::write(&p, "abc123\n").unwrap();
        assert_eq!(Secret::from_file(&p).unwrap().expose(), "abc123");
        std::fs::write(&p, "\n").unwrap();
        assert!(Secret::from_file(&p).unwrap_err().to_string().contains("empty"));
        let missing = dir.join("missing");
        assert!(Secret::from_file(&missing).unwrap_err().to_string().contains("missing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
