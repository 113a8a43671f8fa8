//! An organization's OAuth apps as its members manage them, through /v1 or
//! the dashboard's pages alike: who may register, change, rotate or delete
//! which app (within the credential's power, see
//! [`Principal::may_make_app`]), and the audit event of each change. The
//! protocol side of an app (validation, secrets, the cache) is
//! `oauth::clients`'; this module decides for a [`Principal`].

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration;
use serde_json::{Value, json};

use crate::apikeys::MadeThrough;
use crate::audit::Origin;
use crate::authority::{Denied, Principal};
use crate::oauth::OAuth;
use crate::oauth::clients::{Client, ClientChanges, ClientError, NewClient};
use crate::oauth::scopes;
use crate::problem::Problem;
use crate::store::{self, StoreError};

/// The longest a rotated-out secret may keep working: 30 days.
pub const MAX_GRACE_SECS: i64 = 30 * 86400;

/// Why an operation on an app was refused.
#[derive(Debug)]
pub enum AppsError {
    /// No such app in the caller's organization (404, whoever owns it).
    NotFound,
    /// A DEVELOPER's hands on an app someone else registered.
    NotYours,
    /// Beyond the credential's power (403), or a wrong request as
    /// `authority` sees it (400).
    Denied(Denied),
    /// A wrong request (400): a grace period, an unknown scope, another
    /// member's app changed before it was taken over.
    Invalid(Problem),
    /// The app itself is invalid (400), or the store failed.
    Client(ClientError),
}

impl From<Denied> for AppsError {
    fn from(d: Denied) -> Self {
        Self::Denied(d)
    }
}

impl From<ClientError> for AppsError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NotFound(_) => Self::NotFound,
            other => Self::Client(other),
        }
    }
}

impl From<StoreError> for AppsError {
    fn from(e: StoreError) -> Self {
        Self::Client(ClientError::Store(e))
    }
}

async fn audit(oauth: &OAuth, p: &Principal, origin: &Origin, action: &str, client_id: &str, details: Value) {
    let now = oauth.clock.now();
    crate::audit::record(&oauth.store, now, &p.organization_id, action, origin, Some(client_id), details).await;
}

/// The app, if it belongs to the caller's organization.
pub async fn app_of(oauth: &OAuth, p: &Principal, id: &str) -> Result<Arc<Client>, AppsError> {
    match oauth.clients.get(id).await? {
        Some(c) if c.organization_id == p.organization_id => Ok(c),
        _ => Err(AppsError::NotFound),
    }
}

/// True when `p` may change, rotate or delete `app` (what the pages show
/// controls for; [`managed`] decides it again on every change).
pub fn may_manage(p: &Principal, app: &Client) -> bool {
    p.may_manage(app.created_by.as_deref())
}

/// Unknown scopes are a bad request, whoever asks (before any question of power).
fn known_scopes(oauth: &OAuth, scopes: &[String]) -> Result<(), AppsError> {
    oauth.scopes.parse_known(&scopes.join(" ")).map(drop).map_err(|e| AppsError::Invalid(Problem::Other(e.description)))
}

/// The app, if the caller may manage it, and, when it holds power of its
/// own (its secret gives tokens with its scopes), only if the caller's
/// power covers it: otherwise rotating its secret would hand out more.
pub async fn managed(oauth: &OAuth, p: &Principal, id: &str) -> Result<Arc<Client>, AppsError> {
    let app = app_of(oauth, p, id).await?;
    // A machine makes no management app or resource server (`may_make_app`),
    // so it changes or deletes none either, but itself: widening one would
    // hand power to a credential that outlives it.
    if p.is_machine()
        && (app.management || app.resource_server)
        && p.client_id.as_deref() != Some(app.client_id.as_str())
    {
        return Err(Denied::Scope {
            scope: "admin".into(),
            reason: "A management app changes no other management app or resource server.".into(),
        }
        .into());
    }
    if !may_manage(p, &app) {
        return Err(AppsError::NotYours);
    }
    Ok(app)
}

/// A key or a machine adds redirect URIs (where codes and tokens go) or
/// scopes only to an app it registered itself, which ends with it: added
/// to anyone else's app, they would outlive it, and a user approving the
/// real app's consent page would send the code to its holder (attacker
/// round 12, finding 6). A person adds them at the dashboard; narrowing
/// is anyone's who may manage the app.
fn may_widen(p: &Principal, app: &Client, changes: &ClientChanges) -> Result<(), AppsError> {
    let through = p.made_through();
    if through == MadeThrough::default() {
        return Ok(());
    }
    let its_own =
        through.app.as_ref().map_or_else(|| app.made_by_key == through.key, |m| app.made_by_app.as_ref() == Some(m));
    let new_uri = |now: &[String], after: &Option<Vec<String>>| after.iter().flatten().any(|u| !now.contains(u));
    let widens = new_uri(&app.redirect_uris, &changes.redirect_uris)
        || new_uri(&app.post_logout_redirect_uris, &changes.post_logout_redirect_uris)
        || changes.scopes.iter().flatten().any(|s| !app.scopes.contains(s));
    if widens && !its_own {
        return Err(Denied::Scope {
            scope: "admin".into(),
            reason: "A key or management app adds redirect URIs or scopes only to an app it registered: \
                     add them at the dashboard."
                .into(),
        }
        .into());
    }
    Ok(())
}

/// Registers `new` for the caller's organization, acting for the caller;
/// a confidential app's secret is returned here, once.
pub async fn register(
    oauth: &OAuth,
    p: &Principal,
    origin: &Origin,
    mut new: NewClient,
) -> Result<(Client, Option<String>), AppsError> {
    known_scopes(oauth, &new.scopes)?;
    p.may_make_app(&new.scopes, new.resource_server, new.management)?;
    new.organization_id = p.organization_id.clone();
    new.created_by = p.user_id.clone();
    let (app, secret) = oauth.clients.create_made_by(new, p.made_through()).await?;
    audit(oauth, p, origin, "app.created", &app.client_id, json!({ "name": app.name })).await;
    Ok((app, secret))
}

/// Changes an app the caller may manage; from now on it acts for the
/// caller. Turned into a management app, it gets a new secret, returned
/// here once.
pub async fn update(
    oauth: &OAuth,
    p: &Principal,
    origin: &Origin,
    id: &str,
    mut changes: ClientChanges,
) -> Result<(Client, Option<String>), AppsError> {
    let current = managed(oauth, p, id).await?;
    let scopes_after: Vec<String> = changes.scopes.clone().unwrap_or_else(|| current.scopes.iter().cloned().collect());
    known_scopes(oauth, &scopes_after)?;
    may_widen(p, &current, &changes)?;
    let changes_flag = |asked: Option<bool>, now: bool| asked.is_some_and(|v| v != now);
    // Changing an app makes it act for whoever changed it. A management app
    // acting for someone new while its secret stays where it was would hand
    // that member's power to whoever holds the secret (a member who left,
    // say): it changes hands only by a new secret.
    let management_after = changes.management.unwrap_or(current.management);
    if (management_after || current.management) && current.created_by != p.user_id {
        return Err(AppsError::Invalid(Problem::ManagementAppOfAnother));
    }
    p.may_make_app(
        &scopes_after,
        changes_flag(changes.resource_server, current.resource_server),
        changes_flag(changes.management, current.management),
    )?;
    changes.acting_for = p.user_id.clone();
    let app = oauth.clients.update(id, changes).await?;
    let details = json!({ "name": app.name, "scopes": scopes::join(&app.scopes), "redirect_uris": app.redirect_uris });
    audit(oauth, p, origin, "app.updated", &app.client_id, details).await;
    // Turned into a management app, it gets a secret of its own: one made
    // before (by whoever held the app then) must not act with this
    // member's power.
    let mut secret = None;
    if management_after && !current.management {
        secret = Some(oauth.clients.rotate_secret_through(id, Duration::zero(), &p.made_through()).await?);
        audit(oauth, p, origin, "app.secret_rotated", id, json!({ "grace_period": 0, "management": true })).await;
    }
    Ok((app, secret))
}

/// A new secret for an app the caller may manage, returned once; the old
/// one keeps working for `grace_secs` seconds.
pub async fn rotate_secret(
    oauth: &OAuth,
    p: &Principal,
    origin: &Origin,
    id: &str,
    grace_secs: i64,
) -> Result<String, AppsError> {
    let app = managed(oauth, p, id).await?;
    // A machine may rotate its own secret: it gets nothing it did not hold.
    let own = p.client_id.as_deref() == Some(app.client_id.as_str());
    // And those of the apps it made, which end with it; any other app's
    // new secret would be bound to nothing the machine ends with, and the
    // app's own secret would die (attacker round 12, finding 2: a
    // machine's holder took the owner's app and kept it).
    if p.is_machine() && !own && app.made_by_app != p.client_id {
        return Err(Denied::Scope {
            scope: "admin".into(),
            reason: "A management app rotates the secret of no app but itself and the apps it made.".into(),
        }
        .into());
    }
    let (resource_server, management) = if own { (false, false) } else { (app.resource_server, app.management) };
    p.may_make_app(&app.scopes.iter().cloned().collect::<Vec<_>>(), resource_server, management)?;
    if !(0..=MAX_GRACE_SECS).contains(&grace_secs) {
        return Err(AppsError::Invalid(Problem::GraceRange));
    }
    // A new secret gives the app's power to whoever holds it: from now on
    // the app acts for the member who rotated it, never above them. Taken
    // over, no old secret may live on with the new member's power, nor any
    // token it got (the grace is 0: the tokens' cut-off is now).
    if app.created_by != p.user_id && grace_secs != 0 {
        return Err(AppsError::Invalid(Problem::TakeoverWithGrace));
    }
    let taken_over = app.created_by != p.user_id;
    if taken_over {
        let changes = ClientChanges { acting_for: p.user_id.clone(), ..ClientChanges::default() };
        oauth.clients.update(id, changes).await?;
    }
    // A person's rotation without grace unties the app from the key or
    // machine that registered it (`Clients::take_over`): no old secret
    // lives, so no holder of the maker holds the app. Whoever changed the
    // app before (an edit makes it theirs, so this is no takeover then:
    // attacker round 12, finding 7). Through a key, the tie stays.
    let tied = app.made_by_key.is_some() || app.made_by_app.is_some();
    let secret = if (taken_over || (tied && grace_secs == 0)) && p.made_through() == MadeThrough::default() {
        oauth.clients.take_over(id).await?
    } else {
        oauth.clients.rotate_secret_through(id, Duration::seconds(grace_secs), &p.made_through()).await?
    };
    audit(oauth, p, origin, "app.secret_rotated", id, json!({ "grace_period": grace_secs })).await;
    Ok(secret)
}

/// Deletes an app the caller may manage, with its secrets, refresh tokens
/// and consents; the deleted app is returned.
pub async fn delete(oauth: &OAuth, p: &Principal, origin: &Origin, id: &str) -> Result<Arc<Client>, AppsError> {
    let app = managed(oauth, p, id).await?;
    oauth.clients.delete(id).await?;
    audit(oauth, p, origin, "app.deleted", &app.client_id, json!({ "name": app.name })).await;
    Ok(app)
}

/// How many users authorized each app of the caller's organization on the
/// consent page (apps nobody authorized are absent).
pub async fn authorized_users(oauth: &OAuth, p: &Principal) -> Result<HashMap<String, i64>, StoreError> {
    let org = p.organization_id.clone();
    let counts = oauth.store.run(move |conn| store::consents::consent_counts(conn, &org)).await?;
    Ok(counts.into_iter().collect())
}
