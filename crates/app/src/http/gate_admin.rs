//! Handlers of the doors for operators (`admin` tag, `X-Admin-Key`): gate keys per
//! schedule (issue, list, revoke), check-in figures, revoking a ticket and the revocation
//! list, and whether a schedule's tickets must be shown as rotating codes.

use actix_web::{HttpResponse, delete, get, post, put, web};
use frontrow_domain::model::ScheduleId;
use frontrow_domain::tickets::Tickets;
use frontrow_domain::tickets::model::TicketId;

use super::auth::Admin;
use super::error::ApiError;
use super::responses::{Forbidden, JsonBodyProblems, NotFound, Unauthorized, Unavailable};
use super::ticket_dto::{
    CheckinStatsView, GateKeyBody, GateKeyView, RevocationView, RevokeBody, RevokedView,
    TicketPolicyBody,
};
use super::tickets::configured;

/// Issues a gate key of the schedule: the key is in this answer only (stored as a hash).
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    request_body = GateKeyBody,
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Issued, with the key", body = GateKeyView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[post("/admin/schedules/{schedule_id}/gate-keys")]
pub async fn issue_gate_key(
    t: Option<web::Data<Tickets>>,
    _admin: Admin,
    path: web::Path<i64>,
    body: web::Json<GateKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let (rec, key) = t
        .issue_gate_key(ScheduleId(path.into_inner()), body.label.trim())
        .await?;
    Ok(HttpResponse::Created().json(GateKeyView::new(rec, Some(key))))
}

/// The schedule's gate keys, revoked ones too (never the keys themselves).
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Gate keys, oldest first", body = Vec<GateKeyView>),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/schedules/{schedule_id}/gate-keys")]
pub async fn list_gate_keys(
    t: Option<web::Data<Tickets>>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let keys = t.gate_keys(ScheduleId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(
        keys.into_iter()
            .map(|k| GateKeyView::new(k, None))
            .collect::<Vec<_>>(),
    ))
}

/// Revokes a gate key: its check-ins and kits are refused from now on.
#[utoipa::path(
    tag = "admin",
    params(
        ("schedule_id" = i64, Path, description = "Schedule id"),
        ("key_id" = i64, Path, description = "Gate key id"),
    ),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Revoked (or revoked before)"),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[delete("/admin/schedules/{schedule_id}/gate-keys/{key_id}")]
pub async fn revoke_gate_key(
    t: Option<web::Data<Tickets>>,
    _admin: Admin,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let (schedule, key) = path.into_inner();
    t.revoke_gate_key(ScheduleId(schedule), key).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The schedule's doors: check-ins per gate and minute, tickets not yet scanned,
/// revoked, and offline duplicates flagged.
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Check-in figures", body = CheckinStatsView),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/schedules/{schedule_id}/checkins")]
pub async fn checkin_stats(
    t: Option<web::Data<Tickets>>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let s = t.stats(ScheduleId(path.into_inner())).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(CheckinStatsView::from(s)))
}

/// Revokes a ticket (returned, or otherwise void) at once: online check-ins refuse it
/// now, offline scanners from their next kit sync.
#[utoipa::path(
    tag = "admin",
    params(("ticket_id" = i64, Path, description = "Ticket id")),
    request_body = RevokeBody,
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Revoked now (empty when it was before)", body = RevokedView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[post("/admin/tickets/{ticket_id}/revocation")]
pub async fn revoke_ticket(
    t: Option<web::Data<Tickets>>,
    _admin: Admin,
    path: web::Path<i64>,
    body: web::Json<RevokeBody>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let ids = t
        .revoke_ticket(TicketId(path.into_inner()), body.reason.trim())
        .await?;
    Ok(HttpResponse::Ok().json(RevokedView {
        revoked: ids.into_iter().map(|i| i.0).collect(),
    }))
}

/// The schedule's revocation list, as gates receive it in their kit: every revoked
/// ticket (returned, cancelled, or moved to another device), by ticket id.
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The revocation list", body = Vec<RevocationView>),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/schedules/{schedule_id}/revocations")]
pub async fn list_revocations(
    t: Option<web::Data<Tickets>>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let kit = t.gate_kit(ScheduleId(path.into_inner()), None).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(
            kit.revocations
                .into_iter()
                .map(RevocationView::from)
                .collect::<Vec<_>>(),
        ))
}

/// Whether the schedule's tickets must be shown as rotating codes.
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The rule in force", body = TicketPolicyBody),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/schedules/{schedule_id}/ticket-policy")]
pub async fn get_ticket_policy(
    t: Option<web::Data<Tickets>>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let rotating_codes = t.rotating_required(ScheduleId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(TicketPolicyBody { rotating_codes }))
}

/// Requires (or not) rotating codes for the schedule's tickets: with it, a ticket's
/// code is only shown once the fan's device has bound its key, and only rotating codes
/// signed by that key are admitted.
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    request_body = TicketPolicyBody,
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The rule now in force", body = TicketPolicyBody),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[put("/admin/schedules/{schedule_id}/ticket-policy")]
pub async fn put_ticket_policy(
    t: Option<web::Data<Tickets>>,
    _admin: Admin,
    path: web::Path<i64>,
    body: web::Json<TicketPolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let t = configured(t)?;
    let schedule = ScheduleId(path.into_inner());
    t.set_rotating_required(schedule, body.rotating_codes)
        .await?;
    Ok(HttpResponse::Ok().json(TicketPolicyBody {
        rotating_codes: body.rotating_codes,
    }))
}
