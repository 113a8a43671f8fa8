//! OAuth 2.0 protocol logic: no actix types here. Handlers in `http::oauth`
//! parse requests into these types and render what comes back.

pub mod authorize;
pub mod authorized_apps;
pub mod backchannel;
pub mod clients;
pub mod dashboard;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod liveness;
pub mod logout;
pub mod oidc;
pub mod pkce;
pub mod redirect;
pub mod revocation;
pub mod scopes;
pub mod service;
pub mod subject;

pub use error::{ErrorCode, OAuthError};
pub use service::OAuth;
