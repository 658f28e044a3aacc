//! A protected application on a real HTTP server, for the tests that need real connections and
//! several workers: `GET /whoami` behind `IdToken`, and the auth routes under `/api`.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use futures::StreamExt as _;
use oidc_actix::{IdToken, OidcAuth};
use serde_json::{Value, json};

/// The library's detail for keys that cannot be loaded (py-oidc-auth's words).
pub const UNAVAILABLE: &str = "OIDC server unavailable, cannot validate token.";

async fn whoami(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": token.sub, "username": token.preferred_username }))
}

/// The application, with two workers so requests cross threads as in production.
pub struct AppServer {
    base: String,
    handle: actix_web::dev::ServerHandle,
    /// One client, so thousands of requests reuse connections.
    client: awc::Client,
}

/// An answer of the application.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The body as JSON (`null` if it is not JSON).
    pub json: Value,
}

impl Reply {
    /// The `detail` of an error answer; panics if the body is not the JSON error envelope.
    pub fn detail(&self) -> &str {
        self.json["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("HTTP {} without a JSON detail: {}", self.status, self.json))
    }

    /// Asserts a 503 for keys that cannot be loaded, with the library's detail.
    pub fn assert_unavailable(&self) {
        assert_eq!((self.status, self.detail()), (503, UNAVAILABLE), "{self:?}");
    }
}

impl AppServer {
    pub fn start(auth: &OidcAuth) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let auth = auth.clone();
        let server = HttpServer::new(move || {
            App::new()
                .configure(auth.routes("/api"))
                .route("/whoami", web::get().to(whoami))
        })
        .workers(2)
        // Longer than the client's pooled connections live (awc: 15 s), so the client never
        // sends a request on a connection the server is closing.
        .keep_alive(Duration::from_secs(60))
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish();
        Self {
            base,
            handle,
            client,
        }
    }

    async fn read(request: awc::ClientRequest, form: Option<&[(&str, &str)]>) -> Reply {
        let sent = match form {
            Some(form) => request.send_form(&form).await,
            None => request.send().await,
        };
        let mut response = sent.expect("the application answers");
        let body = response.body().await.expect("a body");
        Reply {
            status: response.status().as_u16(),
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    /// `GET /whoami` with a bearer token.
    pub async fn call(&self, token: &str) -> Reply {
        let request = self
            .client
            .get(format!("{}/whoami", self.base))
            .insert_header(("Authorization", format!("Bearer {token}")));
        Self::read(request, None).await
    }

    /// `POST` a form to `path` (an auth route, say `/api/auth/v2/token`).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let request = self.client.post(format!("{}{path}", self.base));
        Self::read(request, Some(form)).await
    }

    /// `requests` calls with `tokens` in turn, `concurrency` at a time: the status of each,
    /// labelled with its token's label.
    pub async fn load<L: Copy>(
        &self,
        tokens: &[(L, String)],
        requests: usize,
        concurrency: usize,
    ) -> Vec<(L, u16)> {
        futures::stream::iter((0..requests).map(|i| &tokens[i % tokens.len()]))
            .map(|(label, token)| async move { (*label, self.call(token).await.status) })
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
