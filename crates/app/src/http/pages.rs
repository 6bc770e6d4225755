//! The web pages: the operators' console at `/admin`, the icon at `/favicon.ico` and the
//! assets of both apps under `/static/` — every file of `crates/app/static`, embedded in
//! the binary at build time (rust-embed, also in debug builds), so the service needs no
//! files beside it and loads nothing from elsewhere. The fans' page at `/` is served by
//! `ops::index` through [`serve`]. Also the cache headers of Swagger UI's files
//! ([`swagger_ui_cache`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, get, route, web};
use rust_embed::Embed;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::responses::NotFound;

#[derive(Embed)]
#[folder = "static/"]
struct Assets;

/// The tab's icon (32×32 PNG in an ICO), asked for at `/favicon.ico` by every browser.
const FAVICON: &[u8] = include_bytes!("../../assets/favicon.ico");

/// What the pages may load: their own origin only (no inline script, no CDN).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// The pages themselves are revalidated on every load, so a new binary's pages are seen
/// at once (an unchanged page costs a 304).
const PAGE_CACHE: &str = "public, no-cache";
/// Scripts, styles and images are kept a few minutes without asking: their names carry
/// no version, so a longer life would pair a new page with an old script after an
/// upgrade; after that their `ETag` makes the check a 304.
const ASSET_CACHE: &str = "public, max-age=600";
/// Swagger UI's files change only with the crate that embeds them.
const SWAGGER_CACHE: &str = "public, max-age=604800";

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A weak validator from a SHA-256: weak because `Compress` may send the file gzipped
/// or in brotli under the same tag.
fn etag_of(sha256: &[u8]) -> String {
    format!("W/\"{}\"", hex::encode(sha256))
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for it) or
/// is `*`.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
}

/// `body` as `name` with its content type, a weak `ETag` (its SHA-256) and `cache`, or a
/// 304 when the client has it.
fn respond(
    req: &HttpRequest,
    name: &str,
    body: Vec<u8>,
    etag: String,
    cache: &'static str,
) -> HttpResponse {
    let fresh = not_modified(req.headers(), &etag);
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY));
    if fresh {
        return res.finish();
    }
    res.content_type(content_type(name)).body(body)
}

/// The embedded file `name` (see `respond`); pages are revalidated on every load,
/// their assets kept a few minutes.
pub fn serve(req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    let file = Assets::get(name).ok_or_else(|| ApiError::not_found(format!("no file {name}")))?;
    let etag = etag_of(&file.metadata.sha256_hash());
    let cache = if name.ends_with(".html") {
        PAGE_CACHE
    } else {
        ASSET_CACHE
    };
    Ok(respond(req, name, file.data.into_owned(), etag, cache))
}

/// The operators' console: concerts, queue policy, live charts, sales export. It asks
/// for the operator key once and keeps it in the tab's session storage.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The operators' console", body = String, content_type = "text/html"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
    )
)]
#[route("/admin", method = "GET", method = "HEAD")]
pub async fn admin_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "admin.html")
}

/// A script, style sheet or image of the pages (embedded in the binary), also in a
/// folder (`vendor/qrcode.mjs`).
#[utoipa::path(
    tag = "operations",
    params(("file" = String, Path, description = "File name, e.g. app.js or vendor/qrcode.mjs")),
    responses(
        (status = 200, description = "The file", body = String),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        NotFound,
    )
)]
#[get("/static/{file:.+}")]
pub async fn static_file(
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&req, &file.into_inner())
}

/// The pages' icon.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The icon", body = Vec<u8>, content_type = "image/x-icon"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
    )
)]
#[route("/favicon.ico", method = "GET", method = "HEAD")]
pub async fn favicon(req: HttpRequest) -> HttpResponse {
    static ETAG: OnceLock<String> = OnceLock::new();
    let etag = ETAG.get_or_init(|| etag_of(&Sha256::digest(FAVICON)));
    respond(
        &req,
        "favicon.ico",
        FAVICON.to_vec(),
        etag.clone(),
        ASSET_CACHE,
    )
}

/// Swagger UI's files that are the same whatever the configuration: all but its page
/// and `swagger-initializer.js` (which carries the document's URL).
fn swagger_bundle_file(path: &str) -> Option<&str> {
    let file = path.strip_prefix("/swagger-ui/")?;
    (!file.is_empty() && file != "index.html" && file != "swagger-initializer.js").then_some(file)
}

/// The validator of Swagger UI's file `name`, `None` for a name it does not have. Each
/// file is hashed once (the bundle is 1.45 MB); only names of files are kept, so the
/// map is as small as Swagger UI.
fn swagger_etag(name: &str) -> Option<String> {
    static TAGS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let tags = TAGS.get_or_init(Mutex::default);
    if let Some(tag) = tags.lock().ok()?.get(name) {
        return Some(tag.clone());
    }
    let config = Arc::new(utoipa_swagger_ui::Config::default());
    let file = utoipa_swagger_ui::serve(name, config).ok()??;
    let tag = etag_of(&Sha256::digest(&file.bytes));
    tags.lock().ok()?.insert(name.to_owned(), tag.clone());
    Some(tag)
}

/// Cache headers for Swagger UI (served by `utoipa-swagger-ui`, which sets none): its
/// bundle and styles are kept a week, with an `ETag` so that a later check is a 304
/// instead of 1.45 MB; its page and initializer are revalidated on every load.
///
/// # Errors
/// Those of the services inside.
pub async fn swagger_ui_cache(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !req.path().starts_with("/swagger-ui/") || req.method() != Method::GET {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let etag = swagger_bundle_file(req.path()).and_then(swagger_etag);
    if let Some(tag) = &etag
        && not_modified(req.headers(), tag)
    {
        let res = HttpResponse::NotModified()
            .insert_header((header::ETAG, tag.as_str()))
            .insert_header((header::CACHE_CONTROL, SWAGGER_CACHE))
            .finish();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if res.status() == StatusCode::OK {
        let headers = res.headers_mut();
        match etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            Some(tag) => {
                headers.insert(header::ETAG, tag);
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(SWAGGER_CACHE),
                );
            }
            None => {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(PAGE_CACHE));
            }
        }
    }
    Ok(res.map_into_left_body())
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

    #[test]
    fn if_none_match_compares_weakly_and_takes_a_star() {
        let tag = etag_of(&[0xab; 32]);
        let strong = tag.trim_start_matches("W/").to_owned();
        for (sent, fresh) in [
            (tag.clone(), true),
            (strong, true),
            (format!("\"other\", {tag}"), true),
            ("*".to_owned(), true),
            ("\"other\"".to_owned(), false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(&sent).expect("a header value"),
            );
            assert_eq!(not_modified(&headers, &tag), fresh, "{sent}");
        }
        assert!(!not_modified(&HeaderMap::new(), &tag));
    }

    #[test]
    fn swagger_ui_bundle_files_have_a_validator_and_its_page_has_none() {
        assert_eq!(
            swagger_bundle_file("/swagger-ui/swagger-ui-bundle.js"),
            Some("swagger-ui-bundle.js")
        );
        assert!(swagger_etag("swagger-ui-bundle.js").is_some());
        assert!(swagger_etag("no-such-file.js").is_none());
        for page in [
            "/swagger-ui/",
            "/swagger-ui/index.html",
            "/swagger-ui/swagger-initializer.js",
        ] {
            assert_eq!(swagger_bundle_file(page), None, "{page}");
        }
    }
}
