//! The rate limits at the door of the HTTP layer: the middleware that classifies each
//! request and asks the guard ([`crate::guard::limits`]), the 429 answer, and the 429 in
//! the OpenAPI document of every limited operation.

use std::net::IpAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use super::auth::{Identity, verify_ahead};
use super::error::ApiError;
use crate::guard::limits::{Class, Limited, Limits, Subject};

impl From<Limited> for ApiError {
    /// The 429 answer; `Retry-After` in whole seconds, rounded up.
    fn from(l: Limited) -> ApiError {
        let secs = l.retry_after.as_millis().div_ceil(1000).max(1);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!(
                "too many {} requests from this {}; retry after {secs} s",
                l.class.as_str(),
                l.scope.as_str()
            ),
        );
        e.retry_after = Some(u32::try_from(secs).unwrap_or(u32::MAX));
        e
    }
}

/// The middleware: classifies the request, checks its limits, answers 429 or passes on.
/// Without a `Limits` in the app data (limits disabled) it only passes on.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limits = req.app_data::<web::Data<Limits>>().cloned();
    let class = limits.as_ref().and_then(|_| {
        Class::of(
            req.method().as_str(),
            &super::middleware::matched_route(&req),
        )
    });
    if let (Some(limits), Some(class)) = (limits, class) {
        let address = req
            .peer_addr()
            .map(|peer| client_address(&limits, peer.ip(), req.headers()));
        // The caller, verified here once for the limit and for the handler after.
        let user = match class {
            Class::Enter | Class::Booking => verify_ahead(req.request(), subject).await,
            _ => None,
        };
        if let Err(limited) = limits.check(class, address, user.as_ref()).await {
            let res = ApiError::from(limited).error_response();
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// The client's address: the peer's, or the one its trusted proxy forwarded (every
/// `X-Forwarded-For` header, in order). Allocates nothing: it runs on every status poll.
pub fn client_address(limits: &Limits, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    // A `HeaderName`, not a `&str`: the map would copy a string key on every lookup.
    const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    let forwarded = headers
        .get_all(FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok());
    limits.client_address(peer, forwarded)
}

/// Whom a per-user limit counts for a verified identity.
fn subject(identity: &Identity) -> Subject {
    match identity {
        Identity::Local { user, .. } => Subject::User(user.0),
        Identity::External(e) => Subject::External(e.subject.as_str().into()),
    }
}

/// Adds the 429 answer to every operation a limit applies to, in the OpenAPI document.
pub fn document(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let too_many = ResponseBuilder::new()
        .description("Rate limit reached (see Retry-After, in seconds)")
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::Type::Integer),
                )
                .description(Some(
                    "Seconds until a request of this class is allowed again",
                ))
                .build(),
        )
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    for (path, item) in api.paths.paths.iter_mut() {
        let ops = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, op) in ops {
            if let Some(op) = op.as_mut()
                && Class::of(method.as_str(), path).is_some()
            {
                op.responses
                    .responses
                    .insert("429".into(), too_many.clone().into());
            }
        }
    }
    api
}
