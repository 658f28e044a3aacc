//! The auth routes scope: `app.configure(auth.routes("/api"))`.

use actix_web::web::{self, ServiceConfig};

use crate::OidcAuth;

impl OidcAuth {
    /// Registers this `OidcAuth` with the application (so the extractors and macros find it)
    /// and the scope of auth routes under `prefix`.
    ///
    /// ```no_run
    /// # use actix_web::{App, HttpServer};
    /// # use oidc_actix::OidcAuth;
    /// # async fn run(auth: OidcAuth) -> std::io::Result<()> {
    /// HttpServer::new(move || App::new().configure(auth.routes("/api")))
    ///     .bind(("127.0.0.1", 8080))?
    ///     .run()
    ///     .await
    /// # }
    /// ```
    pub fn routes(&self, prefix: &str) -> impl FnOnce(&mut ServiceConfig) + use<> {
        let auth = self.clone();
        let prefix = prefix.trim_end_matches('/').to_owned();
        move |config: &mut ServiceConfig| {
            config.app_data(auth.clone());
            config.service(web::scope(&prefix));
        }
    }
}
