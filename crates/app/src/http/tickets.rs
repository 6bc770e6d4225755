//! Handlers of the `tickets` tag: a fan's tickets and their holder key, the published
//! issuing keys, and the gate — check-ins one by one or in batches (`X-Gate-Key`) and
//! the offline gate kit.

use std::collections::HashMap;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontrow_domain::model::{ScheduleId, UserId};
use frontrow_domain::returns::Returns;
use frontrow_domain::returns::model::TicketState;
use frontrow_domain::tickets::model::{Ticket, TicketId};
use frontrow_domain::tickets::{IssuedTicket, TicketError, Tickets};
use futures::future::{Ready, ready};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::AuthUser;
use super::error::ApiError;
use super::responses::{
    BadRequest, Conflict, Forbidden, JsonBodyProblems, NotFound, Unauthorized, Unavailable,
    Unprocessable,
};
use super::ticket_dto::{
    BatchBody, BatchView, CheckinBody, CheckinView, GateKitView, HolderKeyBody, IssuedTicketView,
    KitQuery,
};
use crate::ticketing::jwk;

/// The `X-Gate-Key` header (401 when missing).
pub struct GateKeyHeader(pub String);

impl FromRequest for GateKeyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.headers().get("x-gate-key").map(|v| v.to_str()) {
            Some(Ok(k)) if !k.trim().is_empty() => Ok(GateKeyHeader(k.trim().to_owned())),
            Some(_) => Err(ApiError::forbidden(
                "gate-key-invalid",
                "X-Gate-Key is not valid",
            )),
            None => Err(ApiError::unauthorized("missing X-Gate-Key header")),
        })
    }
}

/// The tickets use case, or 404 when this app was built without it.
pub(super) fn configured(t: Option<web::Data<Tickets>>) -> Result<web::Data<Tickets>, ApiError> {
    t.ok_or_else(|| ApiError::not_found("tickets are not configured"))
}

/// The fan's tickets, each with its signed code for a QR code (oldest first, at most
/// 1,000).
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The fan's tickets", body = Vec<IssuedTicketView>),
        Unauthorized,
        Unavailable,
    )
)]
#[get("/tickets")]
pub async fn list_tickets(
    t: Option<web::Data<Tickets>>,
    r: Option<web::Data<Returns>>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let list = t.my_tickets(user.0).await?;
    let states = states_of(r.as_ref().map(|r| r.get_ref()), user.0, &list).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(
            list.into_iter()
                .map(|x| {
                    let state = states.get(&x.ticket.id).copied();
                    IssuedTicketView::new(x, &t, state)
                })
                .collect::<Vec<_>>(),
        ))
}

/// What the returns use case says of each ticket (nothing without one).
async fn states_of(
    r: Option<&Returns>,
    user: UserId,
    list: &[IssuedTicket],
) -> Result<HashMap<TicketId, TicketState>, ApiError> {
    let Some(r) = r else {
        return Ok(HashMap::new());
    };
    let refs: Vec<&Ticket> = list.iter().map(|x| &x.ticket).collect();
    Ok(r.ticket_states(user, &refs).await?)
}

/// Binds the fan's ticket to a key of this device (its rotating codes are signed with
/// it). Binding again moves the ticket to another device: logged, and the codes of the
/// previous binding are revoked.
#[utoipa::path(
    tag = "tickets",
    params(("ticket_id" = i64, Path, description = "Ticket id")),
    request_body = HolderKeyBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Bound: the ticket with its new code", body = IssuedTicketView),
        JsonBodyProblems,
        Unauthorized,
        NotFound,
        Conflict,
        Unavailable,
    )
)]
#[post("/tickets/{ticket_id}/holder-key")]
pub async fn bind_holder_key(
    t: Option<web::Data<Tickets>>,
    r: Option<web::Data<Returns>>,
    user: AuthUser,
    path: web::Path<i64>,
    body: web::Json<HolderKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let key = URL_SAFE_NO_PAD
        .decode(body.public_key.trim())
        .map_err(|_| ApiError::validation("public_key must be base64url"))?;
    let bound = t
        .bind_holder(user.0, TicketId(path.into_inner()), &key)
        .await?;
    let states = states_of(
        r.as_ref().map(|r| r.get_ref()),
        user.0,
        std::slice::from_ref(&bound),
    )
    .await?;
    let state = states.get(&bound.ticket.id).copied();
    Ok(HttpResponse::Ok().json(IssuedTicketView::new(bound, &t, state)))
}

/// A JSON Web Key Set of OKP keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketKeysView {
    /// `{kty: "OKP", crv: "Ed25519", x, kid, alg: "EdDSA", use: "sig"}`; `kid` is the
    /// key id a code carries (8 hex digits).
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// The public keys that verify ticket codes (Ed25519, by `kid`); several while keys
/// rotate.
#[utoipa::path(
    tag = "tickets",
    responses(
        (status = 200, description = "The JWKS document", body = TicketKeysView, content_type = "application/json"),
        NotFound,
    )
)]
#[get("/.well-known/ticket-keys")]
pub async fn ticket_keys(t: Option<web::Data<Tickets>>) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(TicketKeysView {
            keys: t.public_keys().iter().map(jwk).collect(),
        }))
}

/// Checks one scanned code in at the gate key's schedule: 200 with one `result` —
/// `admitted` (with the seat or area and category), `already_redeemed` (with the first
/// scan's time and gate), `revoked`, `not_valid_yet`, `expired`, `invalid` (with a
/// `reason`) or `wrong_schedule`. Every scan is recorded; the same `nonce` again
/// answers the stored record (`replayed`).
#[utoipa::path(
    tag = "tickets",
    request_body = CheckinBody,
    security(("gate_key" = [])),
    responses(
        (status = 200, description = "The gate's answer", body = CheckinView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        Unavailable,
    )
)]
#[post("/checkins")]
pub async fn checkin(
    t: Option<web::Data<Tickets>>,
    key: GateKeyHeader,
    body: web::Json<CheckinBody>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let out = t.checkin(&key.0, body.into_inner().into()).await?;
    Ok(HttpResponse::Ok().json(CheckinView::from(out)))
}

/// Uploads the scans of a device that was offline, in order, idempotent by nonce. Every
/// scan is kept; an offline `admitted` of a ticket admitted before (another device,
/// online or not) is recorded and flagged `duplicate`.
#[utoipa::path(
    tag = "tickets",
    request_body = BatchBody,
    security(("gate_key" = [])),
    responses(
        (status = 200, description = "One answer per scan, in order", body = BatchView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        Unavailable,
    )
)]
#[post("/checkins/batch")]
pub async fn checkin_batch(
    t: Option<web::Data<Tickets>>,
    key: GateKeyHeader,
    body: web::Json<BatchBody>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let out = t.checkin_batch(&key.0, body.into_inner().scans()).await?;
    let results: Vec<CheckinView> = out.into_iter().map(CheckinView::from).collect();
    Ok(HttpResponse::Ok().json(BatchView {
        recorded: results.iter().filter(|r| !r.replayed).count(),
        duplicates: results
            .iter()
            .filter(|r| r.duplicate && !r.replayed)
            .count(),
        results,
    }))
}

/// What a scanner needs to verify the schedule's codes with no network: the issuing
/// keys, the revocation list and the validity rules. With `since` (a previous kit's
/// `generated_at`) only revocations changed since then. Needs a gate key of this
/// schedule.
#[utoipa::path(
    tag = "tickets",
    params(("schedule_id" = i64, Path, description = "Schedule id"), KitQuery),
    security(("gate_key" = [])),
    responses(
        (status = 200, description = "The gate kit", body = GateKitView),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Unprocessable,
        Unavailable,
    )
)]
#[get("/schedules/{schedule_id}/gate-kit")]
pub async fn gate_kit(
    t: Option<web::Data<Tickets>>,
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<KitQuery>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let schedule = ScheduleId(path.into_inner());
    let key = GateKeyHeader::extract(&req).await?;
    if t.gate(&key.0).await?.schedule_id != schedule {
        return Err(TicketError::GateKeyWrongSchedule.into());
    }
    let kit = t.gate_kit(schedule, query.into_inner().since).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(GateKitView::from(kit)))
}
