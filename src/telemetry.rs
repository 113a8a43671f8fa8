//! Logging set-up: pretty for people, JSON for pipelines. Request spans
//! carry the request id; nothing logs secrets (paths are logged without
//! their query strings).

use tracing_subscriber::EnvFilter;

tokio::task_local! {
    /// The id of the request being served (set by the HTTP middleware), for
    /// error bodies and audit events built away from the request itself.
    pub static CURRENT_REQUEST_ID: String;
}

/// The current request's id, or `None` outside a request.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

use crate::config::LogFormat;

/// Installs the global subscriber; `RUST_LOG` overrides the configured level.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: a file or a log collector
    // would keep the escape codes as text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    // A second call (tests) finds a subscriber installed and changes nothing.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}
