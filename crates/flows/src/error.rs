//! Errors of the flow model. Validation problems are not errors but a list of findings
//! (see [`crate::validate`]); version and webhook errors live beside their modules.

/// Parsing or serializing a flow failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The JSON is malformed or does not match the schema; `message` names the field and,
    /// inside a node, the node id.
    #[error("invalid flow JSON: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
}
