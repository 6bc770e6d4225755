//! The web pages: the operators' console at `/admin` and the assets of both apps under
//! `/static/` — every file of `crates/app/static`, embedded in the binary at build time
//! (rust-embed, also in debug builds), so the service needs no files beside it and loads
//! nothing from elsewhere. The fans' page at `/` is served by `ops::index`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use rust_embed::Embed;

use super::error::ApiError;
use super::responses::NotFound;

#[derive(Embed)]
#[folder = "static/"]
struct Assets;

/// What the pages may load: their own origin only (no inline script, no CDN).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The embedded file `name` with its content type, an `ETag` (its SHA-256) and
/// `Cache-Control: no-cache` (revalidated on every load, so a new binary's pages are
/// seen at once; an unchanged file costs a 304).
fn serve(req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    let file = Assets::get(name).ok_or_else(|| ApiError::not_found(format!("no file {name}")))?;
    let etag = format!("\"{}\"", hex_of(&file.metadata.sha256_hash()));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY));
    if fresh {
        return Ok(res.finish());
    }
    Ok(res
        .content_type(content_type(name))
        .body(file.data.into_owned()))
}

fn hex_of(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The operators' console: concerts, queue policy, live charts, sales export. It asks
/// for the operator key once and keeps it in the tab's session storage.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The operators' console", body = String, content_type = "text/html"))
)]
#[get("/admin")]
pub async fn admin_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "admin.html")
}

/// A script, style sheet or image of the pages (embedded in the binary).
#[utoipa::path(
    tag = "operations",
    params(("file" = String, Path, description = "File name, e.g. app.js")),
    responses(
        (status = 200, description = "The file", body = String),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        NotFound,
    )
)]
#[get("/static/{file}")]
pub async fn static_file(
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&req, &file.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_file_has_its_content_type() {
        for name in Assets::iter() {
            assert_ne!(
                content_type(&name),
                "application/octet-stream",
                "{name} would be served without its type"
            );
        }
        assert!(Assets::get("index.html").is_some());
        assert!(Assets::get("admin.html").is_some());
    }
}
