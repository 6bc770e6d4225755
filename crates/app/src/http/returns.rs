//! Handlers of returns and the waiting list: a fan returns a ticket (`tickets` tag), joins,
//! reads or leaves a schedule's waiting list (`waitlist` tag); an operator sets a
//! schedule's return cutoff, reads its waiting-list figures and cancels the show
//! (`admin` tag, `X-Admin-Key`).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use frontrow_domain::model::ScheduleId;
use frontrow_domain::returns::Returns;
use frontrow_domain::tickets::model::TicketId;

use super::auth::{Admin, AuthUser};
use super::error::ApiError;
use super::responses::{
    BadRequest, Conflict, Forbidden, JsonBodyProblems, NotFound, Unauthorized, Unavailable,
    Unprocessable,
};
use super::returns_dto::{
    CancelView, ReturnsPolicyBody, ReturnsSummaryView, TicketReturnView, WaitlistBody,
    WaitlistEntryView,
};

/// The returns use case, or 404 when this app was built without it.
pub(super) fn configured(r: Option<web::Data<Returns>>) -> Result<web::Data<Returns>, ApiError> {
    r.ok_or_else(|| ApiError::not_found("returns are not configured"))
}

/// Returns the caller's ticket before its schedule's return cutoff: the ticket is
/// revoked at once (gates refuse it from their next kit sync), the price paid for its
/// seat or place is credited to the wallet once (a replay of the `Idempotency-Key`
/// answers the same refund, `replayed`), and the place goes first to the schedule's
/// waiting list, else back on sale. 409 when it cannot be returned: checked in
/// (`/problems/ticket-checked-in`), past the cutoff (`/problems/return-cutoff-passed`),
/// returned before under another key (`/problems/ticket-already-returned`), revoked
/// (`/problems/ticket-revoked`) or the show cancelled (`/problems/show-cancelled`);
/// nothing changes then.
#[utoipa::path(
    tag = "tickets",
    params(
        ("ticket_id" = i64, Path, description = "Ticket id"),
        ("Idempotency-Key" = String, Header, description = "1 to 128 printable ASCII characters (spaces only between others), unique per return", min_length = 1, max_length = 128, pattern = r"^[\x21-\x7E]([\t\x20-\x7E]{0,126}[\x21-\x7E])?$"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Returned and refunded (or the replay of the first return with this key)", body = TicketReturnView),
        BadRequest,
        Unauthorized,
        NotFound,
        Conflict,
        Unprocessable,
        Unavailable,
    )
)]
#[post("/tickets/{ticket_id}/return")]
pub async fn return_ticket(
    r: Option<web::Data<Returns>>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = configured(r)?;
    let key = super::auth::required_idempotency_key(&req)?.to_owned();
    let receipt = r
        .return_ticket(user.0, TicketId(path.into_inner()), &key)
        .await?;
    Ok(HttpResponse::Ok().json(TicketReturnView::from(receipt)))
}

/// Joins the schedule's waiting list for `quantity` places (only while nothing is on
/// sale: 409 `/problems/not-sold-out` otherwise). A returned place is offered to the
/// earliest fan still waiting as an order held for them alone for `waitlist.offer_minutes`;
/// one place is offered at a time, and a fan who asked for more keeps their position
/// after paying.
#[utoipa::path(
    tag = "waitlist",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    request_body = WaitlistBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "On the list, with the position", body = WaitlistEntryView),
        JsonBodyProblems,
        Unauthorized,
        NotFound,
        Conflict,
        Unavailable,
    )
)]
#[post("/schedules/{schedule_id}/waitlist")]
pub async fn join_waitlist(
    r: Option<web::Data<Returns>>,
    user: AuthUser,
    path: web::Path<i64>,
    body: web::Json<WaitlistBody>,
) -> Result<HttpResponse, ApiError> {
    let r = configured(r)?;
    let entry = r
        .join(user.0, ScheduleId(path.into_inner()), body.quantity)
        .await?;
    Ok(HttpResponse::Created().json(WaitlistEntryView::from(entry)))
}

/// The caller's entry on the schedule's waiting list (the latest, also once ended):
/// position, and the open offer to pay.
#[utoipa::path(
    tag = "waitlist",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The entry", body = WaitlistEntryView),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[get("/schedules/{schedule_id}/waitlist")]
pub async fn get_waitlist_entry(
    r: Option<web::Data<Returns>>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = configured(r)?;
    let entry = r.entry(user.0, ScheduleId(path.into_inner())).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(WaitlistEntryView::from(entry)))
}

/// Leaves the schedule's waiting list; an open offer is declined and its place passes
/// to the next fan at once.
#[utoipa::path(
    tag = "waitlist",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Off the list: the entry as it ended", body = WaitlistEntryView),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[delete("/schedules/{schedule_id}/waitlist")]
pub async fn leave_waitlist(
    r: Option<web::Data<Returns>>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = configured(r)?;
    let entry = r.leave(user.0, ScheduleId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(WaitlistEntryView::from(entry)))
}

/// Cancels the show: every paid order is refunded once what is left of it, every ticket
/// revoked, held orders and waiting-list offers cancelled, nothing of the schedule on
/// sale again; when every schedule of the concert is cancelled its line is closed.
/// Sending it again (or twice at once) refunds nothing twice and finishes any work left.
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Cancelled: what this call did", body = CancelView),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[post("/admin/schedules/{schedule_id}/cancel")]
pub async fn cancel_show(
    r: Option<web::Data<Returns>>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = configured(r)?;
    let report = r.cancel_show(ScheduleId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(CancelView::from(report)))
}

/// The schedule's return cutoff, cancellation and waiting-list counts.
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Returns and waiting list", body = ReturnsSummaryView),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/schedules/{schedule_id}/returns")]
pub async fn get_returns(
    r: Option<web::Data<Returns>>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = configured(r)?;
    let s = r.summary(ScheduleId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(ReturnsSummaryView::from(s)))
}

/// Sets the schedule's return cutoff (`null`: the default, `returns.cutoff_minutes`).
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    request_body = ReturnsPolicyBody,
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Set: the schedule's returns", body = ReturnsSummaryView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[put("/admin/schedules/{schedule_id}/returns")]
pub async fn put_returns(
    r: Option<web::Data<Returns>>,
    _admin: Admin,
    path: web::Path<i64>,
    body: web::Json<ReturnsPolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let r = configured(r)?;
    let s = r
        .set_cutoff(ScheduleId(path.into_inner()), body.cutoff_minutes)
        .await?;
    Ok(HttpResponse::Ok().json(ReturnsSummaryView::from(s)))
}
