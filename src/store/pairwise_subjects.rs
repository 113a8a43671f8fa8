//! The user behind each pairwise subject (OIDC Core §8): a pairwise app's
//! access tokens carry the subject, and whoever resolves them needs the
//! user back (`OAuth::live_access_token`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::pairwise_subjects;
use super::{DbConnection, StoreError};

/// Records that `subject` stands for `user_id` in `organization_id`.
/// Idempotent: the subject is a function of the user, so a second
/// recording has nothing new to say.
pub fn record(
    conn: &mut DbConnection,
    subject: &str,
    user_id: &str,
    organization_id: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let row = (
        pairwise_subjects::subject.eq(subject),
        pairwise_subjects::user_id.eq(user_id),
        pairwise_subjects::organization_id.eq(organization_id),
        pairwise_subjects::created_at.eq(now),
    );
    match conn {
        DbConnection::Postgresql(pg) => {
            diesel::insert_into(pairwise_subjects::table).values(row).on_conflict_do_nothing().execute(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            diesel::insert_or_ignore_into(pairwise_subjects::table).values(row).execute(sqlite)?
        }
    };
    Ok(())
}

/// The user `subject` stands for, when it was issued in `organization_id`.
pub fn user_of(conn: &mut DbConnection, subject: &str, organization_id: &str) -> Result<Option<String>, StoreError> {
    Ok(pairwise_subjects::table
        .find(subject)
        .filter(pairwise_subjects::organization_id.eq(organization_id))
        .select(pairwise_subjects::user_id)
        .first(conn)
        .optional()?)
}
