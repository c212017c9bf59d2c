//! Structured logs: JSON when not on a terminal (or when asked), pretty otherwise.

use omnivox_api::config::LogConfig;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init(cfg: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter_directives(&cfg.level))
        .map_err(|e| anyhow::anyhow!("log.level `{}`: {e}", cfg.level))?;
    let json = match cfg.format.as_str() {
        "json" => true,
        "pretty" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    result.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

/// The SIP stack logs every message it sends at `info`, raw: that is a
/// packet trace, not an operations log (and it costs CPU on every call), so
/// it is kept at `warn` unless the configured filter names `rsipstack`.
fn filter_directives(level: &str) -> String {
    if level.contains("rsipstack") {
        level.to_owned()
    } else {
        format!("{level},rsipstack=warn")
    }
}

#[cfg(test)]
mod tests {
    use super::filter_directives;

    #[test]
    fn the_sip_stack_trace_is_opt_in() {
        assert_eq!(filter_directives("info"), "info,rsipstack=warn");
        assert_eq!(
            filter_directives("rsipstack=debug,info"),
            "rsipstack=debug,info"
        );
    }
}
