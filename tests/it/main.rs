//! The one integration-test binary. Runs on SQLite by default and on
//! PostgreSQL when TEST_DATABASE_URL points at a server.

mod support;

mod api_apps;
mod api_keys;
mod api_members;
mod api_openapi;
mod api_session;
mod authority;
mod browser;
mod cli;
mod health;
mod oauth_code;
mod oauth_code_rules;
mod oauth_support;
mod oauth_tokens;
mod pages;
mod password_hashing;
mod refresh_race;
mod security;
mod sessions_end;
mod throttle;
