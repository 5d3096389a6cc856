//! The library's one error type and its `Result` alias.

use std::path::PathBuf;

/// Everything that can go wrong inside khulasa.
///
/// Sources are kept as sources (never turned into strings) so callers can
/// inspect them; messages are lower-case and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input file could not be read.
    #[error("{input}: cannot read input: {source}")]
    ReadInput {
        /// The input as the user named it.
        input: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is unusable (empty, binary, too large, not UTF-8, ...).
    #[error("{input}: {reason}")]
    BadInput {
        /// The input as the user named it.
        input: String,
        /// What is wrong and what to do about it.
        reason: String,
    },
    /// A JSON input or output could not be parsed.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// What was being parsed.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A model manifest or prompt file is malformed.
    #[error("{path}: invalid configuration: {source}")]
    Toml {
        /// The file that failed to parse.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: toml::de::Error,
    },
    /// A prompt template failed to render.
    #[error("prompt '{name}': {source}")]
    Template {
        /// The template's name.
        name: String,
        /// The template engine's error.
        #[source]
        source: minijinja::Error,
    },
    /// A model could not be found, fetched or verified.
    #[error("model {model}: {reason}")]
    Model {
        /// The model id or file.
        model: String,
        /// What went wrong and what to do about it.
        reason: String,
    },
    /// A downloaded or local model file does not match its manifest.
    #[error("model {model}: {path} has sha256 {actual}, expected {expected}; delete it and run `khulasa models pull {model}`")]
    Checksum {
        /// The model id.
        model: String,
        /// The file that was checked.
        path: PathBuf,
        /// The digest found.
        actual: String,
        /// The digest the manifest requires.
        expected: String,
    },
    /// A tensor operation in the inference engine failed.
    #[error("inference failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The model produced output that could not be used.
    #[error("generation: {0}")]
    Generation(String),
    /// A fact or number of the digest is not supported by the article
    /// (with `--on-ungrounded fail`).
    #[error("ungrounded: {0}")]
    Ungrounded(String),
    /// Work stopped on request (SIGINT/SIGTERM).
    #[error("interrupted")]
    Interrupted,
    /// An I/O error with a path.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Builds a [`Error::BadInput`].
    pub(crate) fn bad_input(input: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadInput {
            input: input.into(),
            reason: reason.into(),
        }
    }

    /// Builds a [`Error::Model`].
    pub(crate) fn model(model: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Model {
            model: model.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the error comes from the user's input rather than the
    /// model or configuration.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Self::ReadInput { .. } | Self::BadInput { .. } | Self::Json { .. }
        )
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
