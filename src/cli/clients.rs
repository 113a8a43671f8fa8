//! `portcullis client`: create, list, show, update, delete, rotate-secret.
//! The same `Clients` functions as /v1/apps decide and validate; a secret
//! is printed once, when it is made.

use clap::Subcommand;
use portcullis::config::Config;
use portcullis::oauth::clients::{
    Client, ClientChanges, ClientType, Clients, GrantType, NewClient, OidcRegistration, SubjectType,
};
use portcullis::tokens::signing::SigningAlgorithm;
use serde_json::{Value, json};

use crate::common::{Admin, print_list};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register an app. A confidential client's secret is printed once and
    /// stored only as a digest: copy it now.
    Create(Box<CreateClient>),
    /// List registered apps.
    List {
        /// Only this organization's apps (id, or a name only one has).
        #[arg(long)]
        org: Option<String>,
        /// One JSON array (the fields of /v1/apps) instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Show an app's settings (never its secret).
    Show {
        client_id: String,
        /// The app as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change an app, validated as PATCH /v1/apps/{id} is. A list given
    /// (--redirect-uri, --grant, --scope, --post-logout-redirect-uri)
    /// replaces the app's whole list.
    Update(Box<UpdateClient>),
    /// Delete an app with its secrets, refresh tokens and consents; its
    /// access tokens stop working.
    Delete { client_id: String },
    /// Issue a new client secret, printed once.
    RotateSecret {
        client_id: String,
        /// Seconds the previous secret keeps working (0: it stops now).
        #[arg(long, default_value_t = 0)]
        grace: i64,
    },
}

/// What `client create` registers.
#[derive(clap::Args)]
pub struct CreateClient {
    /// Id of the organization that owns the app, or its name when only one has it.
    #[arg(long)]
    org: String,
    /// Name shown on the consent page.
    #[arg(long)]
    name: String,
    /// confidential (has a secret: servers) or public (no secret: SPAs, native apps; PKCE required).
    #[arg(long = "type", default_value = "confidential")]
    client_type: ClientType,
    /// A redirect URI, matched exactly (repeat for several).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// authorization_code, client_credentials or refresh_token (repeat for several).
    #[arg(long = "grant", required = true)]
    grants: Vec<GrantType>,
    /// A scope the app may ask for (repeat for several).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Homepage shown on the consent page.
    #[arg(long)]
    homepage: Option<String>,
    /// Logo (https) shown on the consent page.
    #[arg(long)]
    logo: Option<String>,
    /// Access-token lifetime in seconds, at most 86400 (default from configuration).
    #[arg(long)]
    access_token_ttl: Option<i64>,
    /// Refresh-token idle lifetime in seconds (default from configuration).
    #[arg(long)]
    refresh_token_ttl: Option<i64>,
    /// Issue a refresh token in the code flow even without offline_access.
    #[arg(long)]
    always_issue_refresh_token: bool,
    /// May introspect tokens issued to any client (for resource servers).
    #[arg(long)]
    resource_server: bool,
    /// PKCE (S256) on the code flow: required (default, OAuth 2.1), or
    /// optional for a legacy confidential client that cannot send it.
    /// Public clients always require it.
    #[arg(long, value_name = "required|optional", default_value = "required")]
    pkce: PkceRule,
    /// Where /oauth/logout may send the browser after sign-out, matched
    /// exactly (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Where a logout token is POSTed when a user's session ends
    /// (OpenID Connect Back-Channel Logout): https, or http on loopback.
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// The `sub` of ID tokens: the user's id (public), or one per sector
    /// identifier (pairwise).
    #[arg(long, value_name = "public|pairwise", default_value = "public")]
    subject_type: SubjectType,
    /// For a pairwise app whose redirect URIs span several hosts: the one of
    /// them its subjects are computed for.
    #[arg(long)]
    sector_identifier: Option<String>,
    /// The ID-token signing algorithm.
    #[arg(long, value_name = "RS256|ES256|EdDSA", default_value = "RS256")]
    id_token_alg: SigningAlgorithm,
}

/// What `client update` changes; what is not given stays.
#[derive(clap::Args)]
pub struct UpdateClient {
    client_id: String,
    #[arg(long)]
    name: Option<String>,
    /// A redirect URI (repeat for several): replaces the list.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// A grant type (repeat for several): replaces the list.
    #[arg(long = "grant")]
    grants: Vec<GrantType>,
    /// A scope (repeat for several): replaces the list.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Homepage; an empty value removes it.
    #[arg(long)]
    homepage: Option<String>,
    /// Logo (https); an empty value removes it.
    #[arg(long)]
    logo: Option<String>,
    /// May introspect tokens of the whole organization.
    #[arg(long, value_name = "true|false")]
    resource_server: Option<bool>,
    #[arg(long, value_name = "required|optional")]
    pkce: Option<PkceRule>,
    /// Where /oauth/logout may send the browser (repeat): replaces the list.
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout URI; an empty value removes it.
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    #[arg(long, value_name = "RS256|ES256|EdDSA")]
    id_token_alg: Option<SigningAlgorithm>,
}

/// Whether a client must use PKCE in the code flow.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PkceRule {
    Required,
    Optional,
}

/// A list flag given at least once replaces the list; never given, it stays.
fn replaced<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

/// An optional URL flag: absent stays, empty clears, a value sets.
fn optional(value: Option<String>) -> Option<Option<String>> {
    value.map(|v| (!v.trim().is_empty()).then_some(v))
}

pub fn command(config: Config, command: ClientCommand) -> anyhow::Result<()> {
    let admin = Admin::open(config)?;
    let clients = admin.clients()?;
    match command {
        ClientCommand::Create(create) => create_client(&admin, &clients, *create)?,
        ClientCommand::List { org, json } => {
            let org = org.map(|o| admin.organization_id(&o)).transpose()?;
            let all = admin.rt.block_on(clients.list(org))?;
            if json {
                let rows: Vec<Value> = all.iter().map(client_json).collect();
                return print_list(true, &rows, &[]);
            }
            for c in all {
                let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    c.client_id,
                    c.organization_name,
                    c.name,
                    c.client_type,
                    grants.join(","),
                    portcullis::oauth::scopes::join(&c.scopes)
                );
            }
        }
        ClientCommand::Show { client_id, json } => {
            let client = found(&admin, &clients, &client_id)?;
            print_client(&client, json)?;
        }
        ClientCommand::Update(update) => {
            let UpdateClient {
                client_id,
                name,
                redirect_uris,
                grants,
                scopes,
                homepage,
                logo,
                resource_server,
                pkce,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                id_token_alg,
            } = *update;
            let current = found(&admin, &clients, &client_id)?;
            let changes = ClientChanges {
                name,
                redirect_uris: replaced(redirect_uris),
                grant_types: replaced(grants).map(|g| g.into_iter().collect()),
                scopes: replaced(scopes),
                homepage_url: optional(homepage),
                logo_url: optional(logo),
                resource_server,
                require_pkce: pkce.map(|p| p == PkceRule::Required),
                post_logout_redirect_uris: replaced(post_logout_redirect_uris),
                backchannel_logout_uri: optional(backchannel_logout_uri),
                id_token_alg,
                // The operator changes the app; it keeps acting for its creator.
                ..ClientChanges::default()
            };
            let client = admin.rt.block_on(clients.update(&client_id, changes))?;
            let details = json!({
                "name": client.name,
                "scopes": portcullis::oauth::scopes::join(&client.scopes),
                "redirect_uris": client.redirect_uris,
            });
            admin.audit(&current.organization_id, "app.updated", Some(&client.client_id), details);
            print_client(&client, false)?;
        }
        ClientCommand::Delete { client_id } => {
            let current = found(&admin, &clients, &client_id)?;
            admin.rt.block_on(clients.delete(&client_id))?;
            admin.audit(&current.organization_id, "app.deleted", Some(&client_id), json!({ "name": current.name }));
            println!("deleted client {client_id} ({:?}) with its secrets, tokens and consents", current.name);
        }
        ClientCommand::RotateSecret { client_id, grace } => {
            let current = found(&admin, &clients, &client_id)?;
            let secret = admin.rt.block_on(clients.rotate_secret(&client_id, chrono::Duration::seconds(grace)))?;
            let details = json!({ "grace_period": grace });
            admin.audit(&current.organization_id, "app.secret_rotated", Some(&client_id), details);
            println!("client_secret: {secret}");
            if grace > 0 {
                println!("(the previous secret keeps working for {grace} s)");
            }
        }
    }
    Ok(())
}

/// The app with this client_id, or a clear error.
fn found(admin: &Admin, clients: &Clients, client_id: &str) -> anyhow::Result<std::sync::Arc<Client>> {
    admin
        .rt
        .block_on(clients.get(client_id))?
        .ok_or_else(|| anyhow::anyhow!("no client has the id {client_id:?} (see `portcullis client list`)"))
}

/// An app as /v1/apps shows it, with its organization.
fn client_json(c: &Client) -> Value {
    let mut row = portcullis::http::api::app_json(c);
    row["organization_id"] = json!(c.organization_id);
    row["organization"] = json!(c.organization_name);
    row
}

/// One `field: value` line per setting, or one JSON object.
fn print_client(c: &Client, json: bool) -> anyhow::Result<()> {
    let value = client_json(c);
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if let Value::Object(fields) = value {
        for (name, v) in fields {
            let shown = match v {
                Value::Null => "-".to_owned(),
                Value::String(s) => s,
                Value::Array(items) if items.is_empty() => "-".to_owned(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            println!("{name}: {shown}");
        }
    }
    Ok(())
}

fn create_client(admin: &Admin, clients: &Clients, create: CreateClient) -> anyhow::Result<()> {
    let CreateClient {
        org,
        name,
        client_type,
        redirect_uris,
        grants,
        scopes,
        homepage,
        logo,
        access_token_ttl,
        refresh_token_ttl,
        always_issue_refresh_token,
        resource_server,
        pkce,
        post_logout_redirect_uris,
        backchannel_logout_uri,
        subject_type,
        sector_identifier,
        id_token_alg,
    } = create;
    let organization_id = admin.organization_id(&org)?;
    let new = NewClient {
        organization_id: organization_id.clone(),
        name,
        client_type,
        redirect_uris,
        grant_types: grants.into_iter().collect(),
        scopes,
        homepage_url: homepage,
        logo_url: logo,
        access_token_ttl_secs: access_token_ttl,
        refresh_token_ttl_secs: refresh_token_ttl,
        always_issue_refresh_token,
        resource_server,
        management: false,
        // Clients::create refuses an exemption for a public client.
        require_pkce: pkce == PkceRule::Required,
        created_by: None,
        oidc: OidcRegistration {
            post_logout_redirect_uris,
            backchannel_logout_uri,
            subject_type,
            sector_identifier,
            id_token_alg,
        },
    };
    let (client, secret) = admin.rt.block_on(clients.create(new))?;
    admin.audit(&organization_id, "app.created", Some(&client.client_id), json!({ "name": client.name }));
    println!("client_id:     {}", client.client_id);
    if let Some(secret) = secret {
        println!("client_secret: {secret}");
        println!("(the secret is shown once; only its digest is stored)");
    }
    Ok(())
}
