//! `/dashboard/orgs/{org}/apps`: the organization's OAuth apps. The list
//! and the register form, an app's page with its edit form, secret
//! rotation and deletion. Every change goes through `crate::apps`, the
//! functions /v1/apps calls, with the person's dashboard principal: the
//! same rules, the same audit events. A secret is rendered once, straight
//! from the POST that made it (`render` sends `Cache-Control: no-store`):
//! never in a URL, a cookie or a log. The register and rotate forms carry
//! a single-use token, so a reload of that answer registers or rotates
//! nothing more.

use std::collections::{BTreeSet, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::org::{InOrg, Shell};
use super::{Made, Posted, already_made, render, see_other};
use crate::apps::{self, AppsError};
use crate::authority::{Denied, Principal};
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::session::verify_form_token;
use crate::oauth::clients::{Client, ClientChanges, ClientError, ClientType, NewClient, OidcRegistration};
use crate::problem::Problem;

mod form;

use form::{AppForm, Choice, FormErrors, FormView};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/orgs/{org}/apps", web::get().to(list))
        .route("/dashboard/orgs/{org}/apps", web::post().to(register))
        .route("/dashboard/orgs/{org}/apps/{id}", web::get().to(show))
        .route("/dashboard/orgs/{org}/apps/{id}", web::post().to(edit))
        .route("/dashboard/orgs/{org}/apps/{id}/rotate-secret", web::post().to(rotate_secret))
        .route("/dashboard/orgs/{org}/apps/{id}/delete", web::get().to(confirm_delete))
        .route("/dashboard/orgs/{org}/apps/{id}/delete", web::post().to(delete));
}

/// The grace periods offered when rotating a secret (seconds, label).
const GRACE_PERIODS: [(i64, &str); 5] = [
    (0, "None: the old secret stops now"),
    (3600, "1 hour"),
    (86400, "24 hours"),
    (7 * 86400, "7 days"),
    (apps::MAX_GRACE_SECS, "30 days"),
];

/// What the pages say when an operation is refused outright.
fn page_error(e: AppsError) -> PageError {
    match e {
        AppsError::NotFound | AppsError::Client(ClientError::NotFound(_)) => PageError::NotFound,
        AppsError::NotYours => {
            PageError::Forbidden("Only the app's creator or an ADMIN or OWNER may change it.".into())
        }
        AppsError::Denied(Denied::Scope { reason, .. }) => PageError::Forbidden(reason),
        AppsError::Invalid(problem) | AppsError::Client(ClientError::Validation(problem)) => {
            PageError::BadRequest(super::for_people(&problem))
        }
        AppsError::Denied(Denied::Invalid(m)) => PageError::BadRequest(super::sentence(&m)),
        AppsError::Client(ClientError::MakerEnded) => PageError::Forbidden(ClientError::MakerEnded.to_string()),
        AppsError::Client(ClientError::Store(s)) => s.into(),
    }
}

/// A form's POST: its CSRF token, then the power it needs; the principal.
fn posted<'a>(
    req: &HttpRequest,
    state: &AppState,
    in_org: &'a InOrg,
    token: &str,
    (broad, resource): (&str, &str),
) -> Result<&'a Principal, PageError> {
    verify_form_token(req, &state.config, Some(&in_org.session), token)?;
    need(&in_org.principal, broad, resource)?;
    Ok(&in_org.principal)
}

/// The server's own check of what a page shows a control for.
fn need(p: &Principal, broad: &str, resource: &str) -> Result<(), PageError> {
    if p.allows(broad, Some(resource)) {
        Ok(())
    } else {
        Err(PageError::Forbidden("Your role in this organization does not allow this.".into()))
    }
}

/// An app as the list shows it.
pub struct AppRow {
    pub href: String,
    pub client_id: String,
    pub name: String,
    pub logo_url: Option<String>,
    pub client_type: String,
    pub grants: Vec<&'static str>,
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub homepage_url: Option<String>,
    pub authorized_users: i64,
    pub created_by: String,
    pub created_at: String,
    pub management: bool,
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The emails of the apps' creators ("a former member" for a deleted account).
async fn creators(state: &AppState, apps: &[&Client]) -> Result<HashMap<String, String>, PageError> {
    let ids: BTreeSet<String> = apps.iter().filter_map(|a| a.created_by.clone()).collect();
    let mut emails = HashMap::new();
    for id in ids {
        let email = state.accounts.user(&id).await?.map_or_else(|| "a former member".to_owned(), |u| u.email);
        emails.insert(id, email);
    }
    Ok(emails)
}

async fn rows(state: &AppState, in_org: &InOrg, list: &[&Client]) -> Result<Vec<AppRow>, PageError> {
    let users = apps::authorized_users(&state.oauth, &in_org.principal).await?;
    let emails = creators(state, list).await?;
    let shell = in_org.shell("apps");
    Ok(list
        .iter()
        .map(|a| AppRow {
            href: shell.href(&format!("apps/{}", a.client_id)),
            client_id: a.client_id.clone(),
            name: a.name.clone(),
            logo_url: a.logo_url.clone(),
            client_type: a.client_type.to_string(),
            grants: a.grant_types.iter().map(|g| g.as_str()).collect(),
            scopes: a.scopes.iter().cloned().collect(),
            redirect_uris: a.redirect_uris.clone(),
            homepage_url: a.homepage_url.clone(),
            authorized_users: users.get(&a.client_id).copied().unwrap_or(0),
            created_by: a.created_by.as_ref().and_then(|id| emails.get(id)).cloned().unwrap_or_else(|| "—".into()),
            created_at: when(a.created_at),
            management: a.management,
        })
        .collect())
}

/// One app as the list shows it.
async fn row(state: &AppState, in_org: &InOrg, app: &Client) -> Result<AppRow, PageError> {
    rows(state, in_org, &[app]).await?.into_iter().next().ok_or(PageError::NotFound)
}

/// Apps a page lists.
const PAGE_SIZE: i64 = 20;

#[derive(Template)]
#[template(path = "apps.html")]
struct ListPage {
    shell: Shell,
    apps: Vec<AppRow>,
    /// Links to the next page of apps and back to the first.
    next: Option<String>,
    first: Option<String>,
    /// The register form, for those who may register.
    form: Option<FormView>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    deleted: Option<String>,
    /// The last app of the previous page (newest first).
    #[serde(default)]
    after: Option<String>,
}

/// A page of the organization's apps, newest first, after the app
/// `after`; an app that is not theirs as a cursor: 404.
async fn list_page(
    state: &AppState,
    in_org: &InOrg,
    after: Option<&str>,
    form: Option<FormView>,
    notice: Option<&'static str>,
) -> Result<ListPage, PageError> {
    let after = after.filter(|a| !a.is_empty());
    let org = &in_org.principal.organization_id;
    let mut page = state
        .oauth
        .clients
        .list_page(org, after, PAGE_SIZE + 1)
        .await
        .map_err(page_error_of)?
        .ok_or(PageError::NotFound)?;
    let more = page.len() as i64 > PAGE_SIZE;
    page.truncate(PAGE_SIZE as usize);
    let shell = in_org.shell("apps");
    let next = more.then(|| page.last().map(|a| shell.href(&format!("apps?after={}", a.client_id)))).flatten();
    let first = after.is_some().then(|| shell.href("apps"));
    let apps = rows(state, in_org, &page.iter().collect::<Vec<_>>()).await?;
    Ok(ListPage { shell, apps, next, first, form, notice })
}

fn page_error_of(e: ClientError) -> PageError {
    page_error(e.into())
}

pub async fn list(
    state: web::Data<AppState>,
    in_org: InOrg,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let p = &in_org.principal;
    need(p, "read", "apps:read")?;
    let form = p.allows("write", Some("apps:write")).then(|| {
        let action = in_org.shell("apps").href("apps");
        FormView::new(&state, p, action, false, AppForm::default(), FormErrors::default())
    });
    let notice = q.deleted.is_some().then_some("The app was deleted, with its secrets, tokens and consents.");
    render(StatusCode::OK, &list_page(&state, &in_org, q.after.as_deref(), form, notice).await?, None)
}

#[derive(Template)]
#[template(path = "app_secret.html")]
struct SecretPage {
    shell: Shell,
    name: String,
    client_id: String,
    secret: Option<String>,
    app_href: String,
    /// Registered now (else: a new secret of an existing app).
    registered: bool,
    /// Until when the previous secret keeps working, after a rotation.
    previous_until: Option<String>,
}

/// The page that shows a new secret, the only time it is shown: rendered
/// from the POST that made it, never stored or redirected to.
fn show_secret(
    in_org: &InOrg,
    app: &Client,
    secret: Option<String>,
    registered: bool,
    previous_until: Option<String>,
) -> Result<HttpResponse, PageError> {
    let shell = in_org.shell("apps");
    let page = SecretPage {
        app_href: shell.href(&format!("apps/{}", app.client_id)),
        shell,
        name: app.name.clone(),
        client_id: app.client_id.clone(),
        secret,
        registered,
        previous_until,
    };
    render(StatusCode::OK, &page, None)
}

pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (values, token) = AppForm::read(form.into_inner());
    let p = posted(&req, &state, &in_org, &token, ("write", "apps:write"))?;
    let mut errors = FormErrors::default();
    let client_type = values.client_type.parse::<ClientType>().map_err(|m| errors.client_type = Some(m)).ok();
    values.check_redirect_lines(client_type == Some(ClientType::Public), &mut errors);
    let grant_types = values.parse_grants(&mut errors);
    if let (false, Some(client_type)) = (errors.any(), client_type) {
        let new = NewClient {
            organization_id: p.organization_id.clone(),
            name: values.name.clone(),
            client_type,
            redirect_uris: values.uris(),
            grant_types,
            scopes: values.scopes.clone(),
            homepage_url: AppForm::optional(&values.homepage_url),
            logo_url: AppForm::optional(&values.logo_url),
            access_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            always_issue_refresh_token: false,
            resource_server: false,
            management: values.management,
            require_pkce: true,
            created_by: p.user_id.clone(),
            oidc: OidcRegistration::default(),
        };
        let user_id = &in_org.session.user.id;
        match Posted::claim(&state, user_id, Some(&values.once)).await? {
            Posted::Again => return already_made(&in_org, Made::App),
            Posted::Expired(message) => errors.general = Some(message.into()),
            Posted::First(claimed) => match apps::register(&state.oauth, p, &p.origin(&req), new).await {
                Ok((app, secret)) => {
                    return show_secret(&in_org, &app, secret, true, None);
                }
                Err(e) => {
                    Posted::release(claimed, &state, user_id).await?;
                    errors.place(e)?
                }
            },
        }
    }
    let action = in_org.shell("apps").href("apps");
    let form = FormView::new(&state, p, action, false, values, errors);
    render(StatusCode::BAD_REQUEST, &list_page(&state, &in_org, None, Some(form), None).await?, None)
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    shell: Shell,
    app: AppRow,
    /// The edit form, for those who may change this app.
    form: Option<FormView>,
    /// Whether the rotate and delete controls show.
    may_rotate: bool,
    may_delete: bool,
    delete_href: String,
    rotate_action: String,
    grace_periods: Vec<Choice>,
    grace_error: Option<String>,
    saved: bool,
    /// The rotate form's single-use token.
    rotate_once: String,
}

#[derive(Deserialize)]
pub struct AppQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// The app page, with the edit form's values and problems, or the
/// rotation's problem.
async fn app_page(
    state: &AppState,
    in_org: &InOrg,
    app: &Client,
    form: Option<(AppForm, FormErrors)>,
    grace_error: Option<String>,
) -> Result<AppPage, PageError> {
    let p = &in_org.principal;
    let shell = in_org.shell("apps");
    let manages = apps::may_manage(p, app);
    let app_href = shell.href(&format!("apps/{}", app.client_id));
    let may_write = manages && p.allows("write", Some("apps:write"));
    let form = may_write.then(|| {
        let (values, errors) = form.unwrap_or_else(|| (AppForm::of(app), FormErrors::default()));
        FormView::new(state, p, app_href.clone(), true, values, errors)
    });
    let grace_periods = GRACE_PERIODS
        .iter()
        .map(|(secs, label)| Choice { value: secs.to_string(), label: (*label).into(), checked: *secs == 0 })
        .collect();
    Ok(AppPage {
        app: row(state, in_org, app).await?,
        form,
        may_rotate: may_write && !app.is_public(),
        may_delete: manages && p.allows("delete", Some("apps:delete")),
        delete_href: format!("{app_href}/delete"),
        rotate_action: format!("{app_href}/rotate-secret"),
        grace_periods,
        grace_error,
        saved: false,
        rotate_once: super::once_token(state),
        shell,
    })
}

pub async fn show(
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
    q: web::Query<AppQuery>,
) -> Result<HttpResponse, PageError> {
    let p = &in_org.principal;
    need(p, "read", "apps:read")?;
    let app = apps::app_of(&state.oauth, p, &path.1).await.map_err(page_error)?;
    let mut page = app_page(&state, &in_org, &app, None, None).await?;
    page.saved = q.saved.is_some();
    render(StatusCode::OK, &page, None)
}

pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (values, token) = AppForm::read(form.into_inner());
    let p = posted(&req, &state, &in_org, &token, ("write", "apps:write"))?;
    let id = &path.1;
    let current = apps::managed(&state.oauth, p, id).await.map_err(page_error)?;
    let mut errors = FormErrors::default();
    values.check_redirect_lines(current.is_public(), &mut errors);
    let grant_types = values.parse_grants(&mut errors);
    if !errors.any() {
        let changes = ClientChanges {
            name: Some(values.name.clone()),
            redirect_uris: Some(values.uris()),
            grant_types: Some(grant_types),
            scopes: Some(values.scopes.clone()),
            homepage_url: Some(AppForm::optional(&values.homepage_url)),
            logo_url: Some(AppForm::optional(&values.logo_url)),
            // Only an administrator's form has the box; anyone else's
            // leaves the flag as it is (a forged one is decided by
            // `may_make_app` like any other).
            management: (p.is_administrator() || values.management).then_some(values.management),
            ..ClientChanges::default()
        };
        match apps::update(&state.oauth, p, &p.origin(&req), id, changes).await {
            Ok((app, Some(secret))) => {
                // Turned into a management app: its new secret, shown once.
                return show_secret(&in_org, &app, Some(secret), false, None);
            }
            Ok((app, None)) => {
                let to = in_org.shell("apps").href(&format!("apps/{}?saved=1", app.client_id));
                return Ok(see_other(&to).finish());
            }
            Err(e) => errors.place(e)?,
        }
    }
    let page = app_page(&state, &in_org, &current, Some((values, errors)), None).await?;
    render(StatusCode::BAD_REQUEST, &page, None)
}

/// The rotate and delete forms (only rotation has a grace period).
#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    grace_period: String,
    #[serde(default)]
    form_once: String,
}

pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let p = posted(&req, &state, &in_org, &form.csrf_token, ("write", "apps:write"))?;
    let id = &path.1;
    let grace = form.grace_period.trim().parse::<i64>().unwrap_or(-1);
    let user_id = &in_org.session.user.id;
    let outcome = match Posted::claim(&state, user_id, Some(&form.form_once)).await? {
        Posted::Again => return already_made(&in_org, Made::Rotation),
        Posted::Expired(message) => Err(AppsError::Invalid(Problem::other(message))),
        Posted::First(claimed) => {
            let outcome = apps::rotate_secret(&state.oauth, p, &p.origin(&req), id, grace).await;
            if outcome.is_err() {
                Posted::release(claimed, &state, user_id).await?;
            }
            outcome
        }
    };
    let app = apps::app_of(&state.oauth, p, id).await.map_err(page_error)?;
    match outcome {
        Ok(secret) => {
            let until = (grace > 0).then(|| when(state.clock.now() + Duration::seconds(grace)));
            show_secret(&in_org, &app, Some(secret), false, until)
        }
        Err(AppsError::Invalid(problem)) => {
            let page = app_page(&state, &in_org, &app, None, Some(super::for_people(&problem))).await?;
            render(StatusCode::BAD_REQUEST, &page, None)
        }
        Err(e) => Err(page_error(e)),
    }
}

#[derive(Template)]
#[template(path = "app_delete.html")]
struct DeletePage {
    shell: Shell,
    app: AppRow,
    action: String,
}

pub async fn confirm_delete(
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let p = &in_org.principal;
    need(p, "delete", "apps:delete")?;
    let app = apps::managed(&state.oauth, p, &path.1).await.map_err(page_error)?;
    let app = row(&state, &in_org, &app).await?;
    let page = DeletePage { action: format!("{}/delete", app.href), app, shell: in_org.shell("apps") };
    render(StatusCode::OK, &page, None)
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let p = posted(&req, &state, &in_org, &form.csrf_token, ("delete", "apps:delete"))?;
    apps::delete(&state.oauth, p, &p.origin(&req), &path.1).await.map_err(page_error)?;
    Ok(see_other(&in_org.shell("apps").href("apps?deleted=1")).finish())
}
