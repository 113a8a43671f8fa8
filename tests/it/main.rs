//! The one integration-test binary. Runs on SQLite by default and on
//! PostgreSQL when TEST_DATABASE_URL points at a server.

mod support;

mod access_tokens;
mod api_apps;
mod api_keys;
mod api_members;
mod api_openapi;
mod api_session;
mod app_registration_limits;
mod authority;
mod authorized_apps;
mod browser;
mod cached_verification;
mod cli;
mod concurrent_writes;
mod every_instance;
mod health;
mod invitations;
mod key_rotation;
mod machine_power;
mod oauth_code;
mod oauth_code_rules;
mod oauth_support;
mod oauth_tokens;
mod oidc;
mod oidc_backchannel_targets;
mod oidc_browser;
mod oidc_clients;
mod oidc_logout;
mod oidc_prompts;
mod oidc_sessions_end;
mod oidc_support;
mod oidc_userinfo;
mod page_protection;
mod pages;
mod password_hashing;
mod races;
mod refresh_race;
mod refresh_rules;
mod refused_changes;
mod secrets_at_rest;
mod security;
mod sessions_end;
mod shared_rate_limits;
mod throttle;
