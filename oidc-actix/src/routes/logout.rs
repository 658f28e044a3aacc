//! `GET logout`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

use actix_web::{HttpRequest, HttpResponse};

use super::login::query;
use super::upstream;
use super::{bad_request, redirect, with_query};
use crate::config::OidcAuth;

/// Redirects to the provider's `end_session_endpoint` with our client id, the caller's
/// `post_logout_redirect_uri` and `id_token_hint`; without one (or with the provider down),
/// straight to the `post_logout_redirect_uri`, or `/`.
pub(super) async fn logout(auth: OidcAuth, req: HttpRequest) -> HttpResponse {
    let Some(query) = query(&req) else {
        return bad_request("Invalid query string");
    };
    let config = auth.config();
    let after = query
        .get("post_logout_redirect_uri")
        .filter(|v| !v.is_empty());
    if let (Some(after), Some(list)) = (after, &config.post_logout_allow_list)
        && !list.allows(after, config.proxy.as_deref())
    {
        return bad_request("post_logout_redirect_uri is not allowed");
    }
    // Without an end-session endpoint the value becomes our own `Location` header, where a
    // control character cannot go (the response would fail to build: a 500 for a client's
    // mistake). Refused whatever the provider offers, so the answer does not depend on it.
    if after.is_some_and(|after| after.chars().any(char::is_control)) {
        return bad_request("post_logout_redirect_uri is not a valid URI");
    }
    match upstream::endpoint(&auth, "end_session_endpoint").await {
        Ok(end_session) => {
            let hint = query
                .get("id_token_hint")
                .map(String::as_str)
                .unwrap_or_default();
            redirect(&with_query(
                &end_session,
                &[
                    ("client_id", &config.client_id),
                    (
                        "post_logout_redirect_uri",
                        after.map(String::as_str).unwrap_or_default(),
                    ),
                    ("id_token_hint", hint),
                ],
            ))
        }
        Err(why) => {
            log::warn!("oidc-actix: logout without the provider's end_session_endpoint ({why})");
            redirect(after.map_or("/", String::as_str))
        }
    }
}
