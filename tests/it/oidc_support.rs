//! OpenID Connect test helpers: the `openidconnect` crate as a strict
//! relying party, configured only from discovery.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreIdTokenVerifier, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use portcullis::clock::Clock;

use crate::oauth_support::{Registered, query};
use crate::support::{PASSWORD, TestApp, csrf_token, location};

/// The scopes the rig's app is registered with.
pub const OIDC_SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "read"];

pub type Rp =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The relying party for a registered client, from the discovery document.
pub async fn relying_party(app: &TestApp, reg: &Registered) -> Rp {
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http())
        .await
        .expect("discovery succeeds");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(reg.client.client_id.clone()),
        reg.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(reg.client.redirect_uris[0].clone()).unwrap())
}

/// The crate's ID-token verifier, on the server's clock.
pub fn verifier<'a>(app: &TestApp, rp: &'a Rp) -> CoreIdTokenVerifier<'a> {
    let clock = app.clock.clone();
    rp.id_token_verifier().set_time_fn(move || clock.now())
}

/// An authentication request as the crate makes it.
pub struct AuthRequest {
    pub url: url::Url,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// `scopes` besides `openid`; `extra` parameters added by hand.
pub fn auth_request(rp: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> AuthRequest {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for s in scopes {
        req = req.add_scope(Scope::new((*s).into()));
    }
    for (k, v) in extra {
        req = req.add_extra_param(*k, *v);
    }
    let (url, _, nonce) = req.url();
    AuthRequest { url, nonce, verifier }
}

/// A new user signed in in a new browser: (browser, user id, email).
pub async fn signed_in_user(app: &TestApp) -> (reqwest::Client, String, String) {
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    (browser, user.id, user.email)
}

/// Redeems the code of `back` (the redirect to the client) with the crate.
pub async fn exchange(rp: &Rp, back: &url::Url, verifier: PkceCodeVerifier) -> CoreTokenResponse {
    let code = query(back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    rp.exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("the code is redeemed")
}

/// The verified claims of the response's ID token, its `at_hash` checked
/// against the access token with the crate's own hashing.
pub fn verified_claims<'t>(
    app: &TestApp,
    rp: &Rp,
    tokens: &'t CoreTokenResponse,
    nonce: Option<&Nonce>,
) -> &'t CoreIdTokenClaims {
    use openidconnect::{AccessTokenHash, OAuth2TokenResponse, TokenResponse};
    let id_token = tokens.id_token().expect("an ID token");
    let v = verifier(app, rp);
    let claims = match nonce {
        Some(n) => id_token.claims(&v, n),
        None => id_token.claims(&v, |n: Option<&Nonce>| if n.is_none() { Ok(()) } else { Err("a nonce".into()) }),
    }
    .expect("the crate verifies the ID token");
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&v).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected, "at_hash");
    claims
}

/// The payload of a JWT, unverified (for claims the crate does not expose).
pub fn payload(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The header of a JWT.
pub fn header(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').next().expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Signs in on the login page at `login` (a Location): returns where the
/// login form sends the browser next.
pub async fn sign_in_on(app: &TestApp, browser: &reqwest::Client, login: &str, email: &str) -> String {
    let res = browser.get(app.url(login)).send().await.unwrap();
    assert_eq!(res.status(), 200, "the login page is shown");
    let html = res.text().await.unwrap();
    let mut form: Vec<(String, String)> = crate::oauth_support::hidden_fields(&html);
    assert!(form.iter().any(|(k, _)| k == "return_to"));
    assert_eq!(csrf_token(&html), form.iter().find(|(k, _)| k == "csrf_token").unwrap().1);
    form.push(("email".into(), email.into()));
    form.push(("password".into(), PASSWORD.into()));
    let res = browser.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "signed in");
    location(&res)
}

/// A server, an app registered for OpenID Connect, the crate as its
/// relying party, and a user signed in in a browser.
pub struct Rig {
    pub app: TestApp,
    pub reg: Registered,
    pub rp: Rp,
    pub browser: reqwest::Client,
    pub user_id: String,
    pub email: String,
}

impl Rig {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The same on a server with the test's changes to its configuration.
    pub async fn start_with(change: impl FnOnce(&mut portcullis::config::Config)) -> Self {
        let app = TestApp::spawn_with(change).await;
        let reg = app.oauth_client().await.scopes(&OIDC_SCOPES).create().await;
        let rp = relying_party(&app, &reg).await;
        let (browser, user_id, email) = signed_in_user(&app).await;
        Self { app, reg, rp, browser, user_id, email }
    }

    /// An authentication request for `scopes` (and `openid`) with `extra`
    /// parameters, approved in the browser and redeemed: its nonce and the
    /// tokens.
    pub async fn sign_in(&self, scopes: &[&str], extra: &[(&str, &str)]) -> (Nonce, CoreTokenResponse) {
        sign_in_with(&self.app, &self.browser, &self.rp, scopes, extra).await
    }
}

/// An authentication request of `rp`, approved in `browser` (signed in)
/// and redeemed: its nonce and the tokens.
pub async fn sign_in_with(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &Rp,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> (Nonce, CoreTokenResponse) {
    let req = auth_request(rp, scopes, extra);
    let back = app.authorize(browser, req.url.as_str(), "approve").await;
    (req.nonce, exchange(rp, &back, req.verifier).await)
}
