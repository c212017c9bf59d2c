//! Error types of the crate (one enum per concern, no boxed errors).

/// A calling-hours or holiday specification could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// An interval must satisfy `start < end <= 24:00`.
    #[error("bad interval {start}..{end} (minutes): need start < end <= 1440")]
    BadInterval {
        /// start minute
        start: u16,
        /// end minute
        end: u16,
    },
    /// More intervals in one day than [`crate::hours::MAX_INTERVALS`].
    #[error("too many intervals in one day")]
    TooManyIntervals,
    /// Two intervals of one day overlap.
    #[error("overlapping intervals")]
    Overlap,
    /// Anything else that is not the expected syntax.
    #[error("cannot parse {0:?}")]
    Syntax(String),
}

/// An embedded or supplied location data file is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// A line of a data file could not be parsed.
    #[error("{file} line {line}: {message}")]
    Line {
        /// which file
        file: &'static str,
        /// 1-based line number
        line: usize,
        /// what is wrong
        message: String,
    },
}

/// The rule file is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A line of the rule file could not be parsed.
    #[error("rules line {line}: {message}")]
    Line {
        /// 1-based line number
        line: usize,
        /// what is wrong
        message: String,
    },
    /// The file as a whole is inconsistent (missing version, too many rules, ...).
    #[error("rules: {0}")]
    File(String),
}

/// A do-not-call entry or registry file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DncError {
    /// An entry of an internal or campaign list is not `+<digits>` or `+<digits>*`.
    #[error("bad DNC entry {0:?}: expected +<digits> or +<digits>*")]
    BadEntry(String),
    /// Reading the registry failed.
    #[error("reading DNC registry: {0}")]
    Io(#[from] std::io::Error),
}
