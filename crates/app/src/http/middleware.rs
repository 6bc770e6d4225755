//! Per-request plumbing: a request id (taken from `x-request-id` when the client sends a
//! sane one, else a fresh UUID) on the request's tracing span and echoed in the response,
//! and the request count and latency histogram by route, method and status; and JSON
//! bodies held to being objects (see [`ObjectBody`]).
//!
//! This runs on every request, the fans' status polls included, so it keeps its work
//! small: the matched route is found once (`observe` leaves it in the request's
//! extensions for the other layers, and remembers the static routes per worker thread),
//! and the metric handles of each (route, method, status) are looked up in the registry
//! once per worker thread, not on every request. Both caches are bounded: routes are the
//! app's own patterns, methods outside the standard ones are counted as `OTHER`, and
//! statuses are three digits.

use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Decompress, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::http::header::CONTENT_ENCODING;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures::Stream;
use metrics::{Counter, Histogram};
use tracing::Instrument;

use super::json_numbers::WholeNumbers;
use crate::telemetry::{HTTP_DURATION, HTTP_REQUESTS};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route pattern a request matched (`unmatched` when none did), put in the request's
/// extensions by [`observe`].
#[derive(Debug, Clone)]
pub struct MatchedRoute(pub Rc<str>);

/// Static paths remembered per worker thread, at most this many.
const STATIC_ROUTES: usize = 256;

/// A worker thread's metric handles by (route, method, status).
type Handles = HashMap<(Rc<str>, &'static str, u16), (Counter, Histogram)>;

thread_local! {
    /// Paths whose matched pattern is the path itself (routes without parameters).
    static ROUTES: RefCell<HashMap<Box<str>, Rc<str>>> = RefCell::new(HashMap::new());
    /// Metric handles by (route, method, status).
    static HANDLES: RefCell<Handles> = RefCell::new(HashMap::new());
}

fn sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The method as a metric label: the standard ones by name, any other as `OTHER` (a
/// client may send any token as a method; labels must stay few).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// The request's route pattern: from the extensions when `observe` found it already,
/// else from the router (remembered when the route has no parameters).
pub fn matched_route(req: &ServiceRequest) -> Rc<str> {
    if let Some(route) = req.extensions().get::<MatchedRoute>() {
        return route.0.clone();
    }
    let path = req.path();
    if let Some(route) = ROUTES.with_borrow(|routes| routes.get(path).cloned()) {
        return route;
    }
    match req.match_pattern() {
        Some(pattern) => {
            let route: Rc<str> = pattern.into();
            if &*route == path {
                ROUTES.with_borrow_mut(|routes| {
                    if routes.len() < STATIC_ROUTES {
                        routes.insert(path.into(), route.clone());
                    }
                });
            }
            route
        }
        None => Rc::from("unmatched"),
    }
}

/// Counts the request and records its latency with this thread's handles.
fn record(route: Rc<str>, method: &'static str, status: u16, seconds: f64) {
    HANDLES.with_borrow_mut(|handles| {
        let (counter, histogram) =
            handles
                .entry((route, method, status))
                .or_insert_with_key(|(route, method, status)| {
                    let labels = [
                        ("method", (*method).to_owned()),
                        ("route", route.to_string()),
                        ("status", status.to_string()),
                    ];
                    (
                        metrics::counter!(HTTP_REQUESTS, &labels),
                        metrics::histogram!(HTTP_DURATION, &labels),
                    )
                });
        counter.increment(1);
        histogram.record(seconds);
    });
}

/// A fresh request id: a random UUID, written without a heap allocation.
fn fresh_request_id() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).unwrap_or_else(|_| unreachable!("a UUID is a valid header value"))
}

/// What a JSON body that is no object starts with, when it is JSON at all: carried in
/// the payload's error to `error::json_error`, which answers 422.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnObject(pub &'static str);

impl std::fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the JSON body is {}, not an object", self.0)
    }
}

impl std::error::Error for NotAnObject {}

/// The JSON value a first byte starts, unless it is an object's `{`; `None` for `{` and
/// for bytes no JSON starts with (serde then says the body is malformed: 400).
fn not_an_object(first: u8) -> Option<NotAnObject> {
    Some(NotAnObject(match first {
        b'[' => "an array",
        b'"' => "a string",
        b'-' | b'0'..=b'9' => "a number",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => return None,
    }))
}

/// A request body that fails at its first byte past JSON whitespace when that byte starts
/// a JSON value other than an object.
///
/// Every JSON body of the API is an object, but serde's derived `Deserialize` of a
/// struct also takes a sequence of its fields in order: `[7]` would charge a wallet 7.
/// `web::JsonConfig` cannot look at the bytes, and `deny_unknown_fields` does not refuse
/// sequences, so the check sits on the payload itself, at its first significant byte.
/// The same pass writes whole numbers given as decimals (`2.0`) as the integers JSON
/// Schema takes them for ([`WholeNumbers`]); it holds back at most one number split
/// across chunks, and the extractor reads the rest as before.
pub struct ObjectBody<S> {
    inner: S,
    /// Whether the first significant byte has gone by.
    seen: bool,
    /// Whole numbers written as decimals become integers ([`WholeNumbers`]).
    numbers: WholeNumbers,
    /// The inner stream has ended (and the last number was written).
    ended: bool,
}

impl<S> Stream for ObjectBody<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let item = Pin::new(&mut self.inner).poll_next(cx);
        match item {
            Poll::Ready(Some(Ok(chunk))) => {
                if !self.seen
                    && let Some(&first) = chunk
                        .iter()
                        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                {
                    self.seen = true;
                    if let Some(e) = not_an_object(first) {
                        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
                        return Poll::Ready(Some(Err(PayloadError::Io(io))));
                    }
                }
                let mut out = Vec::with_capacity(chunk.len());
                self.numbers.feed(&chunk, &mut out);
                Poll::Ready(Some(Ok(Bytes::from(out))))
            }
            Poll::Ready(None) => {
                self.ended = true;
                let mut out = Vec::new();
                self.numbers.finish(&mut out);
                Poll::Ready((!out.is_empty()).then(|| Ok(Bytes::from(out))))
            }
            other => other,
        }
    }
}

/// Puts [`ObjectBody`] on a POST, PUT or PATCH whose body is declared JSON (the types
/// actix's JSON extractor takes: `application/json`, `…+json`). A compressed body is
/// decompressed here, and its `Content-Encoding` removed, so the check sees JSON.
fn objects_only(req: &mut ServiceRequest) {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        return;
    }
    let json = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
    if !json {
        return;
    }
    let decoded = Decompress::from_headers(req.take_payload(), req.headers());
    req.headers_mut().remove(CONTENT_ENCODING);
    let checked = ObjectBody {
        inner: Box::pin(decoded),
        seen: false,
        numbers: WholeNumbers::default(),
        ended: false,
    };
    req.set_payload(Payload::from(
        Box::pin(checked) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
}

pub async fn observe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| v.to_str().is_ok_and(sane))
        .cloned()
        .unwrap_or_else(fresh_request_id);
    let route = matched_route(&req);
    req.extensions_mut().insert(MatchedRoute(route.clone()));
    objects_only(&mut req);
    let method = method_label(req.method());
    let span = tracing::info_span!(
        "request",
        request_id = request_id.to_str().unwrap_or_default(),
        method,
        route = &*route
    );
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = start.elapsed();
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    record(route, method, status, elapsed.as_secs_f64());
    if status >= 400 || tracing::enabled!(tracing::Level::DEBUG) {
        span.in_scope(|| {
            let ms = elapsed.as_secs_f64() * 1000.0;
            if status >= 500 {
                tracing::error!(status, latency_ms = ms, "request failed");
            } else if status >= 400 {
                tracing::info!(status, latency_ms = ms, "request refused");
            } else {
                tracing::debug!(status, latency_ms = ms, "request served");
            }
        });
    }
    let mut res = result?;
    res.headers_mut().insert(REQUEST_ID, request_id);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let odd = Method::from_bytes(b"BREW").expect("a token is a method");
        assert_eq!(method_label(&odd), "OTHER");
    }

    #[test]
    fn request_ids_are_fresh_uuids() {
        let a = fresh_request_id();
        let b = fresh_request_id();
        assert_ne!(a, b);
        let a = a.to_str().expect("ascii");
        assert!(uuid::Uuid::parse_str(a).is_ok(), "{a}");
        assert!(sane(a));
    }
}
