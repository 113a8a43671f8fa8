//! The token endpoint's grants, one file each.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
