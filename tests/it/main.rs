//! The one integration-test binary. Runs on SQLite by default and on
//! PostgreSQL when TEST_DATABASE_URL points at a server.

mod support;

mod browser;
mod cli;
mod health;
mod pages;
mod security;
mod throttle;
