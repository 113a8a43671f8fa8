//! Accounts: organizations, users, memberships and roles, sign-in with
//! throttling, server-side sessions. No HTTP types here.

pub mod admin;
pub mod deletion;
pub mod email_verification;
mod invitation_limits;
pub mod invitations;
pub mod members;
pub mod password_reset;
pub mod passwords;
pub mod roles;
mod single_use_link;
mod throttle;
pub mod validate;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::clock::Clock;
use crate::config::LoginThrottle;
use crate::oauth::OAuth;
use crate::store::models::{MembershipRow, OrganizationRow, SessionRow, UserRow};
use crate::store::oidc_logins::EndedSession;
use crate::store::{self, Store, StoreError};
use crate::tokens::opaque;
use passwords::{PasswordError, PasswordHashing, Verified};
pub use roles::Role;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Input the user can fix; the message says how.
    #[error("{0}")]
    Validation(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The asker's standing, read again where the change is made, does not
    /// allow it (a demotion or removal overtook the request).
    #[error("{0}")]
    Powerless(String),
    /// Unknown email or wrong password: one error, so neither is revealed.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("too many failed sign-in attempts")]
    Throttled { retry_after_secs: i64 },
    /// Invitations are sent only by a person whose address is verified
    /// (or whom an operator made): not a relay for anyone who signs up.
    #[error(
        "Confirm your email address before inviting people: follow the link we emailed you, or send a new one \
         from the banner at the top of the page."
    )]
    EmailNotVerified,
    /// The inviter or the organization sent as many invitations as the
    /// window allows (`login_throttle.invitations_per_*`).
    #[error("Too many invitations were sent recently. Try again in {} minute(s).", (.retry_after_secs + 59) / 60)]
    TooManyInvitations { retry_after_secs: i64 },
    /// Every password-hashing slot busy and the wait for one too long:
    /// nothing was checked; try again after `retry_after_secs`.
    #[error("too many passwords are being checked at once")]
    Busy { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    /// The owner followed a verification link sent to the address.
    pub email_verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization: Organization,
    pub role: Role,
}

/// Where a new account goes.
#[derive(Debug, Clone, Copy)]
pub enum Joining<'a> {
    /// A new organization of this name, the new user its OWNER.
    NewOrganization(&'a str),
    /// The organization of the invitation behind this link's token.
    Invitation(&'a str),
    /// None: an account to sign in to apps with (someone who came from an
    /// app's authorization request). An organization can be made later.
    AccountOnly,
}

/// What a sign-up did. The HTTP layer answers both the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignUp {
    Created {
        user: User,
        /// The organization the account joined or made (none for `AccountOnly`).
        organization: Option<Organization>,
        /// The invitation the account accepted as it was created.
        invitation: Option<Box<invitations::Invitation>>,
    },
    /// The email belongs to an existing account; nothing was created.
    EmailInUse,
}

/// A signed-in browser: who, and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub session_id: String,
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    /// When the user signed in to start this session (OIDC `auth_time`).
    pub authenticated_at: DateTime<Utc>,
}

/// A session just started: the cookie value is shown to the browser once
/// and only its digest is stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub session: CurrentSession,
}

impl From<PasswordError> for AccountsError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy { retry_after_secs } => Self::Busy { retry_after_secs },
            PasswordError::Failed(m) => Self::Store(StoreError::Other(m)),
        }
    }
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            email: r.email,
            created_at: r.created_at.and_utc(),
            email_verified: r.email_verified_at.is_some(),
        }
    }
}

impl From<OrganizationRow> for Organization {
    fn from(r: OrganizationRow) -> Self {
        Self { id: r.id, name: r.name }
    }
}

fn membership(row: MembershipRow, org: OrganizationRow) -> Result<Membership, StoreError> {
    let role = row
        .role
        .parse()
        .map_err(|e| StoreError::Other(format!("membership {}/{}: {e}", row.organization_id, row.user_id)))?;
    Ok(Membership { organization: org.into(), role })
}

/// Time-ordered ids (UUIDv7): rows made in the same instant list in the
/// order they were made.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Hears of sessions that ended (sign-out, a sign-in over an old session, a
/// password change), once that is committed: back-channel logout.
pub type SessionEndHook = Arc<dyn Fn(Vec<EndedSession>) + Send + Sync>;

/// The accounts service: one per app, cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    clock: Arc<dyn Clock>,
    throttle: LoginThrottle,
    passwords: PasswordHashing,
    session_ttl: Duration,
    /// The longest an access token lives: how long the denylist must hold
    /// the tokens of a user whose tokens are revoked as a whole.
    token_lifetime: Duration,
    session_end: Option<SessionEndHook>,
    /// Read after a membership changes, so this instance's caches know
    /// before the request that changed it is answered.
    changes: Option<Arc<crate::changes::Changes>>,
    sign_ins: crate::metrics::Counters<crate::metrics::SignIn>,
    /// Where messages to people are queued; none (the CLI): no email.
    outbox: Option<crate::email::Outbox>,
}

impl Accounts {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        throttle: LoginThrottle,
        passwords: PasswordHashing,
        session_ttl_secs: i64,
    ) -> Self {
        Self {
            store,
            clock,
            throttle,
            passwords,
            session_ttl: Duration::seconds(session_ttl_secs),
            token_lifetime: Duration::seconds(crate::config::OAuthConfig::default().access_token_ttl_secs),
            session_end: None,
            changes: None,
            sign_ins: Default::default(),
            outbox: None,
        }
    }

    /// Queues the messages accounts send (verification, reset links,
    /// invitations, notices) in this outbox.
    pub fn with_outbox(mut self, outbox: crate::email::Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// An absolute link to `path` on this server, for a message.
    fn link(&self, path: &str) -> String {
        self.outbox.as_ref().map(|o| o.link(path)).unwrap_or_default()
    }

    /// The outbox row for `letter` to `to` when email is on: rendered and
    /// sealed before the transaction it joins.
    fn prepare_letter(
        &self,
        to: &str,
        letter: &crate::email::Letter<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<crate::store::email_outbox::OutboxRow>, StoreError> {
        self.outbox.as_ref().map(|o| o.prepare(to, letter, now)).transpose()
    }

    /// Tells the sender that a committed transaction queued a message.
    fn mail_queued(&self) {
        if let Some(outbox) = &self.outbox {
            outbox.wake();
        }
    }

    /// Counts each sign-in's outcome there.
    pub fn with_metrics(mut self, sign_ins: crate::metrics::Counters<crate::metrics::SignIn>) -> Self {
        self.sign_ins = sign_ins;
        self
    }

    /// Reads the change log after each membership change (see `changes`).
    pub fn with_changes(mut self, changes: Arc<crate::changes::Changes>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// This instance's caches see the change just made.
    pub(crate) async fn caught_up(&self) {
        if let Some(changes) = &self.changes {
            changes.catch_up_now().await;
        }
    }

    /// Calls `hook` with the sessions that end, for each of them that
    /// received an ID token.
    pub fn on_session_end(mut self, hook: SessionEndHook) -> Self {
        self.session_end = Some(hook);
        self
    }

    fn sessions_ended(&self, ended: impl IntoIterator<Item = EndedSession>) {
        let ended: Vec<EndedSession> = ended.into_iter().filter(|e| !e.client_ids.is_empty()).collect();
        if let (Some(hook), false) = (&self.session_end, ended.is_empty()) {
            hook(ended);
        }
    }

    /// Sets the longest an access token lives (see `token_lifetime`).
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// What ends every token of a user, on the caller's connection so it
    /// joins the caller's transaction: sessions end with their cause
    /// (password change, removal, role change).
    fn revoke_user_tokens(&self) -> impl Fn(&mut store::DbConnection, &str) -> Result<(), StoreError> + Send + 'static {
        let now = self.clock.now();
        let deny_until = (now + self.token_lifetime).naive_utc();
        move |conn, user_id| OAuth::revoke_user_tokens_blocking(conn, user_id, now, deny_until)
    }

    /// What ends a session's tokens (`OAuth::end_session_tokens_blocking`),
    /// for the store to run in the transaction that ends the session.
    fn end_session_tokens(
        &self,
    ) -> impl Fn(&mut store::DbConnection, &EndedSession) -> Result<(), StoreError> + Send + 'static {
        let now = self.clock.now().naive_utc();
        let deny_until = now + self.token_lifetime;
        move |conn, session| OAuth::end_session_tokens_blocking(conn, session, now, deny_until)
    }

    /// Signs a user out everywhere but the session `keep`, on the caller's
    /// connection so it joins the caller's transaction: their browser
    /// sessions end (returned, for the back channel), every token of theirs,
    /// and every password-reset link still unused (a link seen by someone
    /// else must not outlive the reset or change that was meant to shut
    /// them out: attacker round 12, finding 3). The one way for a password
    /// change, a reset, a disabled user and "sign out everywhere".
    fn sign_out_everywhere(
        &self,
    ) -> impl Fn(&mut store::DbConnection, &str, Option<&str>) -> Result<Vec<EndedSession>, StoreError> + Send + 'static
    {
        let revoke_tokens = self.revoke_user_tokens();
        let end_tokens = self.end_session_tokens();
        let now = self.now();
        move |conn, user_id, keep| {
            let ended = store::oidc_logins::end_sessions_of_user(conn, user_id, keep, &end_tokens)?;
            revoke_tokens(conn, user_id)?;
            store::password_resets::end_all_of_user(conn, user_id, now)?;
            Ok(ended)
        }
    }

    /// The bound every argon2 computation goes through.
    pub fn password_hashing(&self) -> &PasswordHashing {
        &self.passwords
    }

    fn now(&self) -> NaiveDateTime {
        self.clock.now().naive_utc()
    }

    /// Sign-up: a new organization with the new user as its OWNER, throttled
    /// per client IP. An email already in use is not an error the caller
    /// could show (that would tell anyone which emails have accounts): the
    /// password is hashed all the same, the account's owner hears of it (an
    /// email, and their organizations' audit logs), and the caller answers
    /// both alike. A new account is sent a link that verifies its address.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        organization_name: &str,
        client_ip: &str,
    ) -> Result<SignUp, AccountsError> {
        self.sign_up_joining(email, password, Joining::NewOrganization(organization_name), client_ip).await
    }

    /// `sign_up`, into the organization `joining` names: a new one, or the
    /// one of an invitation sent to this email (which the new account
    /// accepts in the transaction that creates it; no organization is made).
    pub async fn sign_up_joining(
        &self,
        email: &str,
        password: &str,
        joining: Joining<'_>,
        client_ip: &str,
    ) -> Result<SignUp, AccountsError> {
        let email = validate::email(email).map_err(AccountsError::Validation)?;
        // Ok: an invitation; Err(Some): a new organization's name; Err(None): none.
        let invitation = match joining {
            Joining::NewOrganization(name) => {
                Err(Some(validate::organization_name(name).map_err(AccountsError::Validation)?))
            }
            Joining::AccountOnly => Err(None),
            Joining::Invitation(token) => Ok(self.pending_invitation(token, &email).await?),
        };
        passwords::check_new_password(password).map_err(AccountsError::Validation)?;
        let now = self.now();
        let policy = self.throttle.clone();
        let keys = [(throttle::signup_ip_key(client_ip), policy.signup_per_ip)];
        // Every sign-up counts, whatever its outcome: each costs a hash.
        let attempt = self.store.run(move |conn| throttle::reserve(conn, &keys, policy.window_secs, now)).await?;
        let reserved = attempt.reserved()?;
        let hashed = self.passwords.hash(password).await;
        let hash = self.unless_busy(hashed, &reserved).await?;
        let user = new_user_row(email, hash, now, false);
        let joined = match &invitation {
            Err(None) => None,
            Err(Some(name)) => {
                Some((OrganizationRow { id: new_id(), name: name.clone(), created_at: now }, Role::Owner))
            }
            Ok(i) => Some((
                OrganizationRow { id: i.organization_id.clone(), name: i.organization_name.clone(), created_at: now },
                i.role,
            )),
        };
        let membership = joined.as_ref().map(|(org, role)| {
            let member = MembershipRow {
                organization_id: org.id.clone(),
                user_id: user.id.clone(),
                role: role.as_str().into(),
                created_at: now,
            };
            (org.clone(), member)
        });
        let (token, verification) = email_verification::new_link(&user.id, now);
        let link = self.link(&email_verification::path(&token));
        let mail = self.prepare_letter(&user.email, &crate::email::Letter::Verify { link: &link }, now)?;
        let user2 = user.clone();
        // Joining through an invitation is audited as accepting one is, in
        // the transaction that joins.
        let invited = invitation
            .as_ref()
            .ok()
            .map(|i| (i.clone(), invitations::joined_event(i, &user.id, client_ip, self.clock.now())));
        // Why an invitation was not accepted; the transaction rolls back.
        let refusal = Arc::new(std::sync::Mutex::new(None));
        let refusal2 = refusal.clone();
        let created = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    store::users::insert_user(c, &user2)?;
                    match (&membership, &invited) {
                        (None, _) => {}
                        (Some((org, member)), None) => {
                            store::orgs::insert_organization(c, org)?;
                            store::orgs::insert_membership(c, member)?;
                        }
                        (Some((_, member)), Some((invitation, joined))) => {
                            let outcome = invitations::join(c, invitation, member, joined)?;
                            if let Some(refused) = invitations::refused(outcome) {
                                *refusal2.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refused);
                                return Err(StoreError::NotFound);
                            }
                        }
                    }
                    store::email_verifications::insert(c, &verification)?;
                    if let Some(mail) = &mail {
                        crate::email::Outbox::queue(c, mail)?;
                    }
                    Ok(())
                })
            })
            .await
            .map_err(email_conflict);
        if let Some(refused) = refusal.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            return Err(refused);
        }
        match created {
            Ok(()) => {
                let details = serde_json::json!({ "organization_created": matches!(invitation, Err(Some(_))) });
                self.audit_everywhere(&user.id, client_ip, "user.signed_up", details).await;
                self.mail_queued();
                if invitation.is_ok() {
                    self.caught_up().await;
                }
                Ok(SignUp::Created {
                    user: user.into(),
                    organization: joined.map(|(org, _)| org.into()),
                    invitation: invitation.ok().map(Box::new),
                })
            }
            Err(AccountsError::EmailTaken) => {
                // In the background, so the answer takes no longer than a new
                // account's, however many organizations the owner has.
                let (this, email, ip) = (self.clone(), user.email_normalized, client_ip.to_owned());
                tokio::spawn(async move { this.signup_email_in_use(&email, &ip).await });
                Ok(SignUp::EmailInUse)
            }
            Err(e) => Err(e),
        }
    }

    /// Someone tried to sign up with the email of an existing account: its
    /// owner hears of it in each of their organizations' audit logs, and by
    /// email at most `signup_notices_per_address` times a window, whatever
    /// the number of client IPs trying (attacker round 12, finding 6).
    async fn signup_email_in_use(&self, email_normalized: &str, client_ip: &str) {
        let email = email_normalized.to_owned();
        let Ok(Some(user)) = self.store.run(move |conn| store::users::find_user_by_email(conn, &email)).await else {
            return;
        };
        let (policy, now) = (self.throttle.clone(), self.now());
        let keys = [(format!("signup-notice:{}", user.email_normalized), policy.signup_notices_per_address)];
        let notice = self.store.run(move |conn| throttle::reserve(conn, &keys, policy.window_secs, now)).await;
        let (reset_link, login) = (self.link("/forgot-password"), self.link("/login"));
        let letter = crate::email::Letter::SignupAttempt { reset_link: &reset_link, login: &login };
        match notice.map(|n| matches!(n, throttle::Attempt::Reserved(_))) {
            Ok(true) => match self.prepare_letter(&user.email, &letter, now) {
                Ok(Some(mail)) => match self.store.run(move |conn| crate::email::Outbox::queue(conn, &mail)).await {
                    Ok(()) => self.mail_queued(),
                    Err(e) => tracing::warn!(cause = %e, "could not queue the sign-up notice"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(cause = %e, "could not queue the sign-up notice"),
            },
            Ok(false) => tracing::info!("sign-up notice not sent: this address was sent one within the window"),
            Err(e) => tracing::warn!(cause = %e, "could not queue the sign-up notice"),
        }
        let origin =
            crate::audit::Origin { actor: "anonymous".into(), request_id: None, ip: Some(client_ip.to_owned()) };
        if let Ok(memberships) = self.memberships(&user.id).await {
            for m in memberships {
                crate::audit::record(
                    &self.store,
                    self.clock.now(),
                    &m.organization.id,
                    "user.signup_email_in_use",
                    &origin,
                    Some(&user.id),
                    serde_json::json!({}),
                )
                .await;
            }
        }
    }

    /// Administrative creation (CLI): adds the user to the organization with
    /// that id, or else of that name, creating the organization when none
    /// has it. A name several organizations share is refused, never guessed.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        organization: &str,
        role: Role,
    ) -> Result<(User, Organization, bool), AccountsError> {
        let email = validate::email(email).map_err(AccountsError::Validation)?;
        let org_name = validate::organization_name(organization).map_err(AccountsError::Validation)?;
        passwords::check_new_password(password).map_err(AccountsError::Validation)?;
        let hash = self.passwords.hash(password).await?;
        let now = self.now();
        let user = new_user_row(email, hash, now, true);
        let user2 = user.clone();
        let (org, created) = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    let found = match store::orgs::find_organization(c, &org_name)? {
                        Some(by_id) => vec![by_id],
                        None => store::orgs::find_organizations_by_name(c, &org_name)?,
                    };
                    if found.len() > 1 {
                        let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
                        return Err(StoreError::Conflict(format!(
                            "{} organizations are named {org_name:?}: give one of their ids ({})",
                            found.len(),
                            ids.join(", ")
                        )));
                    }
                    let (org, created) = match found.into_iter().next() {
                        Some(org) => (org, false),
                        None => {
                            let org = OrganizationRow { id: new_id(), name: org_name.clone(), created_at: now };
                            store::orgs::insert_organization(c, &org)?;
                            (org, true)
                        }
                    };
                    store::users::insert_user(c, &user2)?;
                    store::orgs::insert_membership(
                        c,
                        &MembershipRow {
                            organization_id: org.id.clone(),
                            user_id: user2.id.clone(),
                            role: role.as_str().into(),
                            created_at: now,
                        },
                    )?;
                    Ok((org, created))
                })
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) if m.contains("organizations are named") => AccountsError::Validation(m),
                other => email_conflict(other),
            })?;
        Ok((user.into(), org.into(), created))
    }

    /// Checks an email and password, with throttling per account and per
    /// client IP. Unknown email and wrong password look the same, in the
    /// answer and in its time.
    pub async fn authenticate(&self, email: &str, password: &str, client_ip: &str) -> Result<User, AccountsError> {
        use crate::metrics::SignIn;
        let result = self.check_password(email, password, client_ip).await;
        // The one place a sign-in succeeds, for the pages and /v1/auth/login
        // alike: each of the user's organizations hears of it.
        if let Ok(user) = &result {
            self.audit_everywhere(&user.id, client_ip, "user.signed_in", serde_json::json!({})).await;
        }
        self.sign_ins.count(match &result {
            Ok(_) => SignIn::Success,
            Err(AccountsError::Throttled { .. }) => SignIn::Throttled,
            Err(AccountsError::Busy { .. }) => SignIn::Busy,
            Err(AccountsError::Store(_)) => SignIn::Error,
            Err(_) => SignIn::InvalidCredentials,
        });
        result
    }

    async fn check_password(&self, email: &str, password: &str, client_ip: &str) -> Result<User, AccountsError> {
        // No password is that long: refused before anything is counted or
        // queued, so a flood of huge ones holds no memory while it waits.
        // It says nothing of the account, whichever email came with it.
        if password.chars().count() > passwords::MAX_LENGTH {
            return Err(AccountsError::InvalidCredentials);
        }
        let normalized = validate::normalize_email(email);
        let email_key = throttle::account_key(&normalized);
        let now = self.now();
        let policy = self.throttle.clone();
        let keys = [(email_key.clone(), policy.per_account), (throttle::ip_key(client_ip), policy.per_ip)];
        let (attempt, user) = self
            .store
            .run(move |conn| {
                // Counted before the password is checked: see `throttle`.
                let attempt = throttle::reserve(conn, &keys, policy.window_secs, now)?;
                let user = match attempt {
                    throttle::Attempt::Reserved(_) => store::users::find_user_by_email(conn, &normalized)?,
                    throttle::Attempt::Throttled { .. } => None,
                };
                Ok((attempt, user))
            })
            .await?;
        let reserved = attempt.reserved()?;
        // An unknown email costs one verification at the configured cost,
        // like a wrong password.
        let verified = self.passwords.verify(user.as_ref().map(|u| u.password_hash.as_str()), password).await;
        let verified = self.unless_busy(verified, &reserved).await?;
        match (user, verified) {
            // A disabled user (`portcullis user disable`) is refused with
            // the answer of a wrong password: the attempt counts, and the
            // account's organizations hear of it.
            (Some(user), Verified::Right { .. }) if user.disabled_at.is_some() => {
                let (this, id, ip) = (self.clone(), user.id, client_ip.to_owned());
                tokio::spawn(async move { this.audit_failed_login(&id, &ip, "user disabled").await });
                Err(AccountsError::InvalidCredentials)
            }
            (Some(user), Verified::Right { upgraded }) => {
                self.release_attempt(reserved, Some(email_key)).await;
                if let Some(new) = upgraded {
                    // Made at another cost: stored anew at the configured one.
                    // A failure waits for the next sign-in: this one stands.
                    let (id, old) = (user.id.clone(), user.password_hash.clone());
                    let upgrade =
                        self.store.run(move |conn| store::users::upgrade_password_hash(conn, &id, &old, &new));
                    if let Err(e) = upgrade.await {
                        tracing::warn!(cause = %e, "could not store the password at the configured cost");
                    }
                }
                Ok(user.into())
            }
            // The reservation stays: it is this failure, counted.
            (user, _) => {
                if let Some(user) = user {
                    // In the background: a known account's answer takes no
                    // longer than an unknown one's.
                    let (this, id, ip) = (self.clone(), user.id, client_ip.to_owned());
                    tokio::spawn(async move { this.audit_failed_login(&id, &ip, "wrong password").await });
                }
                Err(AccountsError::InvalidCredentials)
            }
        }
    }

    /// A password that was never checked (every hashing slot stayed busy)
    /// is no attempt: its reservation goes, so a flood of sign-ins that
    /// keeps the slots busy cannot use up a bystander's attempts.
    async fn unless_busy<T>(
        &self,
        outcome: Result<T, passwords::PasswordError>,
        reserved: &[String],
    ) -> Result<T, AccountsError> {
        if let Err(passwords::PasswordError::Busy { .. }) = &outcome {
            self.release_attempt(reserved.to_vec(), None).await;
        }
        Ok(outcome?)
    }

    /// Takes back reserved attempts that do not count (see
    /// `store::throttle::release_attempt`), trying again while the database
    /// is busy. Never an error: the answer stands (a right password is
    /// right), and a release that still fails is logged.
    async fn release_attempt(&self, ids: Vec<String>, clear_key: Option<String>) {
        for attempt in 1..=5u64 {
            let (ids, key) = (ids.clone(), clear_key.clone());
            match self.store.run(move |conn| store::throttle::release_attempt(conn, &ids, key.as_deref())).await {
                Ok(()) => return,
                Err(e) if e.is_transient() && attempt < 5 => {
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(cause = %e, "could not release a sign-in attempt");
                    return;
                }
            }
        }
    }

    /// A failed sign-in of a known account, in the log of each of its
    /// organizations.
    async fn audit_failed_login(&self, user_id: &str, client_ip: &str, reason: &str) {
        self.audit_everywhere(user_id, client_ip, "login.failed", serde_json::json!({ "reason": reason })).await;
    }

    /// Records `action` of the user (the actor and the target) in each
    /// organization they are a member of.
    async fn audit_everywhere(&self, user_id: &str, client_ip: &str, action: &str, details: serde_json::Value) {
        let origin =
            crate::audit::Origin { actor: format!("user:{user_id}"), request_id: None, ip: Some(client_ip.to_owned()) };
        if let Ok(memberships) = self.memberships(user_id).await {
            for m in memberships {
                let (now, org) = (self.clock.now(), &m.organization.id);
                crate::audit::record(&self.store, now, org, action, &origin, Some(user_id), details.clone()).await;
            }
        }
    }

    /// Starts a session for `user`; `replacing` is the token of the session
    /// the browser had before, which ends (rotation at sign-in).
    pub async fn start_session(&self, user: User, replacing: Option<&str>) -> Result<NewSession, AccountsError> {
        let token = opaque::random_secret();
        let now = self.now();
        let row = SessionRow {
            id: new_id(),
            token_digest: opaque::digest(&token),
            user_id: user.id.clone(),
            csrf_token: opaque::random_secret(),
            created_at: now,
            expires_at: now + self.session_ttl,
        };
        let old_digest = replacing.map(opaque::digest);
        let row2 = row.clone();
        let end_tokens = self.end_session_tokens();
        let replaced = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    // A user disabled while their password was being checked
                    // gets no session (attacker round 11, finding 9).
                    if !store::users::active_held(c, &row2.user_id)? {
                        return Ok(Err(AccountsError::InvalidCredentials));
                    }
                    let replaced = match &old_digest {
                        Some(d) => store::oidc_logins::end_session_by_digest(c, d, &end_tokens)?,
                        None => None,
                    };
                    store::sessions::insert_session(c, &row2)?;
                    Ok(Ok(replaced))
                })
            })
            .await??;
        self.sessions_ended(replaced);
        Ok(NewSession {
            token,
            session: CurrentSession {
                session_id: row.id,
                user,
                csrf_token: row.csrf_token,
                expires_at: row.expires_at.and_utc(),
                authenticated_at: row.created_at.and_utc(),
            },
        })
    }

    /// Ends the sessions that have expired, as a sign-out would: their
    /// apps' tokens without `offline_access` go, and the apps hear of it
    /// (back-channel logout). Run by every instance at each change poll;
    /// writes only when a session is due. Returns how many ended.
    pub fn end_expired_sessions(&self) -> Result<usize, StoreError> {
        /// Per transaction; the rest wait for the next poll.
        const BATCH: i64 = 500;
        let now = self.now();
        if !self.store.run_blocking(|conn| store::sessions::any_expired(conn, now))? {
            return Ok(0);
        }
        let end_tokens = self.end_session_tokens();
        let ended =
            self.store.run_blocking(|conn| store::oidc_logins::end_expired_sessions(conn, now, BATCH, &end_tokens))?;
        let count = ended.len();
        self.sessions_ended(ended);
        Ok(count)
    }

    /// The live session for a cookie value, if any.
    pub async fn session(&self, token: &str) -> Result<Option<CurrentSession>, AccountsError> {
        let digest = opaque::digest(token);
        let now = self.now();
        let found = self.store.run(move |conn| store::sessions::find_live_session(conn, &digest, now)).await?;
        Ok(found.map(|(s, u)| CurrentSession {
            session_id: s.id,
            user: u.into(),
            csrf_token: s.csrf_token,
            expires_at: s.expires_at.and_utc(),
            authenticated_at: s.created_at.and_utc(),
        }))
    }

    pub async fn end_session(&self, token: &str) -> Result<(), AccountsError> {
        let digest = opaque::digest(token);
        let end_tokens = self.end_session_tokens();
        let ended =
            self.store.run(move |conn| store::oidc_logins::end_session_by_digest(conn, &digest, &end_tokens)).await?;
        self.sessions_ended(ended);
        Ok(())
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, AccountsError> {
        let id = id.to_owned();
        Ok(self.store.run(move |conn| store::users::find_user(conn, &id)).await?.map(User::from))
    }

    pub async fn memberships(&self, user_id: &str) -> Result<Vec<Membership>, AccountsError> {
        let user_id = user_id.to_owned();
        let rows = self.store.run(move |conn| store::orgs::memberships_of_user(conn, &user_id)).await?;
        Ok(rows.into_iter().map(|(m, o)| membership(m, o)).collect::<Result<_, _>>()?)
    }

    /// Changes the password after checking the current one, and ends every
    /// other session of the user and every token issued to the user: one
    /// who changes a password because it leaked means all of them.
    pub async fn change_password(
        &self,
        session: &CurrentSession,
        current: &str,
        new: &str,
        client_ip: &str,
    ) -> Result<(), AccountsError> {
        passwords::check_new_password(new).map_err(AccountsError::Validation)?;
        let user_id = session.user.id.clone();
        let replace = |stored: String| async move { self.passwords.replace(&stored, current, new).await };
        let hash = self.check_current_password(&user_id, replace).await?;
        let now = self.now();
        let keep = session.session_id.clone();
        let sign_out = self.sign_out_everywhere();
        let ended = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    store::users::update_password(c, &user_id, &hash, now)?;
                    sign_out(c, &user_id, Some(&keep))
                })
            })
            .await?;
        let details = serde_json::json!({ "sessions_ended": ended.len() });
        self.sessions_ended(ended);
        self.audit_everywhere(&session.user.id, client_ip, "user.password_changed", details).await;
        Ok(())
    }

    /// Checks the current password of a signed-in user before a change
    /// (`check` runs argon2 against the stored hash: `Some` when right).
    /// It is a password check like a sign-in: counted against the account
    /// before argon2 runs, so a stolen session is no unlimited guessing
    /// oracle; a right one takes its attempt back.
    async fn check_current_password<T, Fut>(
        &self,
        user_id: &str,
        check: impl FnOnce(String) -> Fut,
    ) -> Result<T, AccountsError>
    where
        Fut: std::future::Future<Output = Result<Option<T>, PasswordError>>,
    {
        let uid = user_id.to_owned();
        let user = self
            .store
            .run(move |conn| store::users::find_user(conn, &uid))
            .await?
            .ok_or(AccountsError::Store(StoreError::NotFound))?;
        let email_key = throttle::account_key(&user.email_normalized);
        let (policy, now) = (self.throttle.clone(), self.now());
        let keys = [(email_key.clone(), policy.per_account)];
        let attempt = self.store.run(move |conn| throttle::reserve(conn, &keys, policy.window_secs, now)).await?;
        let reserved = attempt.reserved()?;
        let checked = check(user.password_hash).await;
        let right = self
            .unless_busy(checked, &reserved)
            .await?
            .ok_or_else(|| AccountsError::Validation(WRONG_CURRENT_PASSWORD.into()))?;
        self.release_attempt(reserved, Some(email_key)).await;
        Ok(right)
    }
}

/// What a change guarded by the current password answers a wrong one.
pub const WRONG_CURRENT_PASSWORD: &str = "The current password is not correct.";

fn new_user_row(email: String, password_hash: String, now: NaiveDateTime, made_by_operator: bool) -> UserRow {
    UserRow {
        id: new_id(),
        email_normalized: validate::normalize_email(&email),
        email,
        password_hash,
        created_at: now,
        password_changed_at: now,
        disabled_at: None,
        email_verified_at: None,
        made_by_operator,
    }
}

/// The only unique column a new user can collide on is the email.
fn email_conflict(e: StoreError) -> AccountsError {
    match e {
        StoreError::Conflict(_) => AccountsError::EmailTaken,
        other => AccountsError::Store(other),
    }
}
