//! OAuth test helpers: registered clients, the oauth2 crate as the client,
//! and a browser that signs in and answers the consent page.

use std::collections::BTreeSet;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RedirectUrl, TokenUrl};
use portcullis::oauth::clients::{Client, ClientType, GrantType, NewClient, OidcRegistration};

use crate::support::{TestApp, csrf_token, location};

pub const REDIRECT: &str = "https://app.example/callback";

pub type OAuthClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct Registered {
    pub client: Client,
    pub secret: Option<String>,
}

pub struct ClientBuilder<'a> {
    app: &'a TestApp,
    new: NewClient,
    /// The OWNER of the new organization.
    owner: String,
}

impl TestApp {
    /// A confidential client of a new organization, allowed every grant
    /// and the built-in scopes.
    pub async fn oauth_client(&self) -> ClientBuilder<'_> {
        let (owner, org) = self.user().create().await;
        self.client_in(&org.id, &owner.id)
    }

    /// The same registration in an existing organization, whose member
    /// `owner` a management app would act for.
    pub fn client_in(&self, organization_id: &str, owner: &str) -> ClientBuilder<'_> {
        ClientBuilder {
            app: self,
            owner: owner.to_owned(),
            new: NewClient {
                organization_id: organization_id.to_owned(),
                name: "Example App".into(),
                client_type: ClientType::Confidential,
                redirect_uris: vec![REDIRECT.into()],
                grant_types: GrantType::ALL.into_iter().collect(),
                scopes: ["read", "write", "delete", "offline_access"].map(String::from).to_vec(),
                homepage_url: Some("https://app.example/about".into()),
                logo_url: None,
                access_token_ttl_secs: None,
                refresh_token_ttl_secs: None,
                always_issue_refresh_token: false,
                resource_server: false,
                management: false,
                require_pkce: true,
                created_by: None,
                oidc: OidcRegistration::default(),
            },
        }
    }

    /// The oauth2 crate's client for a registered app.
    pub fn oauth2_client(&self, registered: &Registered) -> OAuthClient {
        let mut c = BasicClient::new(ClientId::new(registered.client.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.url("/oauth/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(self.url("/oauth/token")).unwrap());
        if let Some(secret) = &registered.secret {
            c = c.set_client_secret(ClientSecret::new(secret.clone()));
        }
        c.set_redirect_uri(RedirectUrl::new(registered.client.redirect_uris[0].clone()).unwrap())
    }

    /// Follows an authorization URL in a signed-in browser: approves the
    /// consent page when one is shown. Returns the redirect's Location.
    pub async fn authorize(&self, browser: &reqwest::Client, auth_url: &str, decision: &str) -> url::Url {
        let res = browser.get(auth_url).send().await.unwrap();
        let res = if res.status() == 200 {
            let html = res.text().await.unwrap();
            let mut form = hidden_fields(&html);
            form.push(("decision".into(), decision.into()));
            assert!(form.iter().any(|(k, _)| k == "csrf_token"));
            browser.post(self.url("/oauth/authorize")).form(&form).send().await.unwrap()
        } else {
            res
        };
        assert_eq!(res.status(), 303, "authorization should redirect");
        url::Url::parse(&location(&res)).unwrap()
    }
}

impl ClientBuilder<'_> {
    pub fn public(mut self) -> Self {
        self.new.client_type = ClientType::Public;
        self.new.grant_types.remove(&GrantType::ClientCredentials);
        self
    }
    pub fn grants(mut self, grants: &[GrantType]) -> Self {
        self.new.grant_types = grants.iter().copied().collect::<BTreeSet<_>>();
        self
    }
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.new.scopes = scopes.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn redirect_uris(mut self, uris: &[&str]) -> Self {
        self.new.redirect_uris = uris.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Registered in `organization_id` instead of a new organization.
    pub fn in_org(mut self, organization_id: &str) -> Self {
        self.new.organization_id = organization_id.to_owned();
        self
    }
    pub fn resource_server(mut self) -> Self {
        self.new.resource_server = true;
        self
    }
    /// A management app registered by the organization's OWNER: its
    /// client-credentials tokens act on /v1 for that OWNER.
    pub fn management(mut self) -> Self {
        self.new.management = true;
        self.new.created_by = Some(self.owner.clone());
        self
    }
    /// A legacy confidential client exempted from PKCE.
    pub fn pkce_optional(mut self) -> Self {
        self.new.require_pkce = false;
        self
    }
    pub fn always_refresh(mut self) -> Self {
        self.new.always_issue_refresh_token = true;
        self
    }
    /// The registration as it stands, to change what no method covers.
    pub fn new_mut(&mut self) -> &mut NewClient {
        &mut self.new
    }
    /// The registration itself, for a test that submits it its own way.
    pub fn into_new(self) -> NewClient {
        self.new
    }
    pub async fn create(self) -> Registered {
        let (client, secret) = self.app.state.oauth.clients.create(self.new).await.expect("client registered");
        Registered { client, secret }
    }
}

/// The hidden inputs of a page's form, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in html.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = chunk.split_once('"').unwrap();
        let value = rest.split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
        out.push((unescape(name), unescape(value)));
    }
    let token = csrf_token(html);
    assert!(out.iter().any(|(_, v)| *v == token));
    out
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The query parameter `name` of a URL.
pub fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// POSTs a form to an OAuth endpoint with Basic client authentication.
pub async fn post_form(
    app: &TestApp,
    path: &str,
    registered: &Registered,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(app.url(path))
        .basic_auth(&registered.client.client_id, registered.secret.as_deref())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

/// Verifies an access token with nothing but the published JWKS, through an
/// independent JOSE library: RFC 9068 `typ: at+jwt`, a published `kid`, the
/// signature, `iss`, and `aud` = the issuer (the organization's APIs).
/// Returns the claims.
pub async fn verify_with_jwks(app: &TestApp, token: &str) -> serde_json::Value {
    verify_for_audience(app, token, &app.base).await.unwrap_or_else(|e| panic!("the JWKS does not verify it: {e}"))
}

/// The same for `audience`: the library's refusal when it does not verify.
pub async fn verify_for_audience(
    app: &TestApp,
    token: &str,
    audience: &str,
) -> Result<serde_json::Value, jsonwebtoken::errors::Error> {
    let header = jsonwebtoken::decode_header(token)?;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 §2.1");
    let jwks: JwkSet = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("kid is published");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.base.as_str()]);
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
    // The tokens are dated by the test clock, not the wall clock: callers
    // compare `iat` and `exp` with `app.clock`.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    Ok(jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_jwk(jwk)?, &validation)?.claims)
}

/// Redeems a code at /oauth/token, with `redirect_uri` when given.
pub async fn redeem(
    app: &TestApp,
    reg: &Registered,
    code: &str,
    verifier: &str,
    redirect_uri: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("code_verifier", verifier)];
    if let Some(uri) = redirect_uri {
        form.push(("redirect_uri", uri));
    }
    let (status, _, body) = post_form(app, "/oauth/token", reg, &form).await;
    (status, body)
}

/// The client-credentials grant at /oauth/token for `scope=read`, with
/// Basic authentication: status and body.
pub async fn client_credentials_read(app: &TestApp, client_id: &str, secret: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(serde_json::Value::Null))
}
