//! `GET login` and `GET callback`: the authorization-code flow with PKCE (RFC 7636).

use std::collections::HashMap;

use actix_web::http::header::{HeaderValue, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::{Map, Value};

use super::token::exchange;
use super::upstream;
use super::{bad_request, redirect, with_query};
use crate::clock;
use crate::config::OidcAuth;
use crate::login_state::{
    LoginState, MAX_REDIRECT_URI_BYTES, STATE_LIFETIME, StateError, pkce_challenge, random_token,
};
use crate::provider::Reason;
use crate::verify::{Failure, TokenRules, Verified, verify};

/// The query parameters of a request, first occurrence winning; `None` if the query is not
/// valid form encoding.
pub(super) fn query(req: &HttpRequest) -> Option<HashMap<String, String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).ok()?;
    let mut map = HashMap::new();
    for (name, value) in pairs {
        map.entry(name).or_insert(value);
    }
    Some(map)
}

const PROMPTS: [&str; 4] = ["none", "login", "consent", "select_account"];

/// Checks an OpenID Connect `prompt` (Core §3.1.2.1): known values, and `none` alone.
fn check_prompt(prompt: &str) -> Result<(), String> {
    let values: Vec<&str> = prompt.split_whitespace().collect();
    if let Some(bad) = values.iter().find(|v| !PROMPTS.contains(v)) {
        return Err(format!(
            "Invalid prompt {bad:?}: expected one of {}",
            PROMPTS.join(", ")
        ));
    }
    if values.contains(&"none") && values.len() > 1 {
        return Err("Invalid prompt: `none` cannot be combined with other values".to_owned());
    }
    Ok(())
}

/// py-oidc-auth's FastAPI boolean forms; anything else is a client error.
fn parse_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// `openid` first, then the requested scopes in order, without duplicates.
pub(super) fn scope_list<'a>(
    requested: impl IntoIterator<Item = &'a str>,
    offline_access: bool,
) -> String {
    let mut scopes = vec!["openid"];
    for scope in requested
        .into_iter()
        .chain(offline_access.then_some("offline_access"))
    {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.join(" ")
}

/// The browser-binding cookie (`bind_login_to_browser`): set by the login, read by the callback.
const BINDING_COOKIE: &str = "oidc_actix_login";

/// The `Set-Cookie` value of the binding cookie: HttpOnly (no script reads it), SameSite=Lax
/// (sent on the provider's top-level redirect to the callback, not on cross-site requests),
/// scoped to the callback's path, Secure where the application is reached over https, and
/// living as long as a login state. An empty `value` with `max_age` 0 clears it.
fn binding_cookie(req: &HttpRequest, value: &str, max_age: u64, path: &str) -> String {
    let secure = req.connection_info().scheme() == "https";
    format!(
        "{BINDING_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The request's binding cookie, if it sent one.
fn binding_from(req: &HttpRequest) -> Option<String> {
    let header = req
        .headers()
        .get(actix_web::http::header::COOKIE)?
        .to_str()
        .ok()?;
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == BINDING_COOKIE).then(|| value.to_owned())
    })
}

pub(super) async fn login(
    auth: OidcAuth,
    req: HttpRequest,
    callback_path: Option<String>,
) -> HttpResponse {
    let Some(query) = query(&req) else {
        return bad_request("Invalid query string");
    };
    let Some(redirect_uri) = query.get("redirect_uri").filter(|v| !v.is_empty()) else {
        return bad_request("Missing redirect_uri");
    };
    let config = auth.config();
    if let Some(list) = &config.redirect_allow_list
        && !list.allows(redirect_uri, config.proxy.as_deref())
    {
        return bad_request("redirect_uri is not allowed");
    }
    // The sealed state carries the redirect URI, and `StateSealer::open` bounds what it opens:
    // a login that could never finish is refused here, with a reason.
    if redirect_uri.len() > MAX_REDIRECT_URI_BYTES {
        return bad_request("redirect_uri is too long");
    }
    if redirect_uri.chars().any(char::is_control) {
        return bad_request("redirect_uri is not a valid URI");
    }
    let prompt = query.get("prompt").map(String::as_str).unwrap_or_default();
    if let Err(why) = check_prompt(prompt) {
        return bad_request(&why);
    }
    let Some(offline_access) = parse_flag(
        query
            .get("offline_access")
            .map(String::as_str)
            .unwrap_or_default(),
    ) else {
        return bad_request("Invalid offline_access: expected true or false");
    };
    let scope = match query.get("scope").filter(|s| !s.trim().is_empty()) {
        Some(requested) => scope_list(requested.split_whitespace(), offline_access),
        None => scope_list(config.scopes.iter().map(String::as_str), offline_access),
    };
    let authorization_endpoint = match upstream::endpoint(&auth, "authorization_endpoint").await {
        Ok(endpoint) => endpoint,
        Err(e) => return e.error_response(),
    };
    let binding = config.bind_login_to_browser.then(|| random_token(16));
    let state = auth.sealer().issue(redirect_uri, binding.as_deref());
    let sealed = auth.sealer().seal(&state);
    let challenge = pkce_challenge(&state.verifier);
    let location = with_query(
        &authorization_endpoint,
        &[
            ("response_type", "code"),
            ("client_id", &config.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", &scope),
            ("state", &sealed),
            ("nonce", &state.nonce),
            ("prompt", prompt.trim()),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let mut response = redirect(&location);
    if let Some(binding) = binding {
        let cookie = binding_cookie(
            &req,
            &binding,
            STATE_LIFETIME.as_secs(),
            callback_path.as_deref().unwrap_or("/"),
        );
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
    }
    response
}

pub(super) async fn callback(auth: OidcAuth, req: HttpRequest) -> HttpResponse {
    let Some(query) = query(&req) else {
        return bad_request("Invalid query string");
    };
    if let Some(error) = query.get("error") {
        let description = query
            .get("error_description")
            .map(String::as_str)
            .unwrap_or_default();
        return HttpResponse::BadRequest().json(serde_json::json!({
            "detail": format!("Login failed: {error} {description}").trim_end().to_owned(),
            "error": error,
            "error_description": description,
        }));
    }
    let (Some(code), Some(sealed)) = (
        query.get("code").filter(|v| !v.is_empty()),
        query.get("state").filter(|v| !v.is_empty()),
    ) else {
        return bad_request("Missing code or state");
    };
    // A state bound to another browser (or to one that did not send its cookie) is refused
    // and stays usable by its own browser.
    let cookie = binding_from(&req);
    let bound = |state: &LoginState| {
        if state.is_bound_to(cookie.as_deref()) {
            Ok(())
        } else {
            Err(StateError::OtherBrowser)
        }
    };
    let state = match auth.sealer().consume_if(sealed, bound) {
        Ok(state) => state,
        Err(e) => return bad_request(e.detail()),
    };
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.clone()),
        ("redirect_uri", state.redirect_uri.clone()),
        ("code_verifier", state.verifier.clone()),
    ];
    let answer = match exchange(&auth, form).await {
        Ok(answer) => answer,
        Err(e) => return e.error_response(),
    };
    if let Err(why) = check_id_token(&auth, &answer.raw, &state.nonce).await {
        return HttpResponse::BadGateway().json(serde_json::json!({ "detail": why }));
    }
    // Tokens, like the token route's: never stored by a browser or a proxy.
    let mut response = HttpResponse::Ok();
    response.insert_header(("cache-control", "no-store"));
    if state.binding.is_some() {
        response.insert_header((SET_COOKIE, binding_cookie(&req, "", 0, req.path())));
    }
    response.json(answer.token)
}

/// Verifies the ID token of a code exchange (OIDC Core §3.1.3.7): signature by the provider's
/// keys, issuer, audience = our client id (with `azp` = our client id when there are several
/// audiences, or when present), expiry, a subject, and the nonce of this login.
///
/// The same pure `verify` the bearer extractor runs; an unknown `kid` gets one key-set fetch,
/// within the same cooldown as bearer tokens, so logins keep working right after a rotation.
async fn check_id_token(
    auth: &OidcAuth,
    answer: &Map<String, Value>,
    nonce: &str,
) -> Result<(), &'static str> {
    let id_token = answer
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or("The provider returned no id_token")?;
    let provider = auth.provider();
    if provider.keys().is_none() {
        let _ = provider.refresh_now().await;
    }
    let config = auth.config();
    // The bearer tokens' rules, with what an ID token has: this client as its audience, and
    // its own `typ` (`JWT` or none), never the access tokens' required one.
    let rules = TokenRules {
        audience: Some(&config.client_id),
        token_type: None,
        ..config.token_rules()
    };
    let verify_now = || -> Result<Result<Verified, Failure>, &'static str> {
        let keys = provider.keys();
        let keys = keys
            .as_deref()
            .ok_or("The provider's keys are unavailable")?;
        Ok(verify(id_token, keys, &rules, clock::now()))
    };
    let mut outcome = verify_now()?;
    if matches!(outcome, Err(Failure::UnknownKid))
        && let Some(pending) = provider.begin(Reason::UnknownKid)
    {
        let _ = pending.await;
        outcome = verify_now()?;
    }
    let payload = outcome.map_err(|_| "The id_token is invalid")?.payload;
    let text = |name| payload.get(name).and_then(Value::as_str);
    if text("sub").is_none_or(str::is_empty) {
        return Err("The id_token has no subject");
    }
    let audiences = payload
        .get("aud")
        .and_then(Value::as_array)
        .map_or(1, Vec::len);
    match text("azp") {
        Some(azp) if azp != config.client_id => {
            return Err("The id_token was issued to another client (azp)");
        }
        None if audiences > 1 => return Err("The id_token has several audiences and no azp"),
        _ => {}
    }
    if text("nonce") != Some(nonce) {
        return Err("The id_token nonce does not match this login");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_validated() {
        for ok in [
            "",
            "none",
            "login",
            "consent",
            "login consent",
            "select_account",
        ] {
            assert!(check_prompt(ok).is_ok(), "{ok}");
        }
        for bad in ["nonesuch", "none login", "Login", "x"] {
            assert!(check_prompt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_accept_the_usual_spellings() {
        assert_eq!(parse_flag("TRUE"), Some(true));
        assert_eq!(parse_flag("on"), Some(true));
        assert_eq!(parse_flag(""), Some(false));
        assert_eq!(parse_flag("0"), Some(false));
        assert_eq!(parse_flag("maybe"), None);
    }

    #[test]
    fn scopes_are_stable_with_openid_first() {
        assert_eq!(
            scope_list(["profile", "email", "profile"], false),
            "openid profile email"
        );
        assert_eq!(
            scope_list(["openid", "email"], true),
            "openid email offline_access"
        );
        assert_eq!(scope_list([], false), "openid");
    }
}
