//! Handlers of the `admin` tag (operators, `X-Admin-Key`): creating concerts, and each
//! concert's admission policy, live waiting-room figures, sales summary and sales export.

use actix_web::{HttpResponse, get, post, put, web};
use frontrow_domain::catalog::MAX_PRICE;
use frontrow_domain::model::{ConcertId, Money, NewConcert, NewSchedule, SoldPlace};
use frontrow_domain::queue::QueuePolicy;

use super::AppState;
use super::auth::Admin;
use super::dto::SalesSummaryView;
use super::dto::{ConcertDetailView, NewConcertBody, QueuePolicyBody, QueueStatsView};
use super::error::{ApiError, Problem};
use super::responses::{
    Forbidden, JsonBodyProblems, NotFound, Unauthorized, Unavailable, Unprocessable,
};

/// Creates a concert with its schedules and seat maps (operators).
#[utoipa::path(
    tag = "admin",
    request_body = NewConcertBody,
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created, with every id", body = ConcertDetailView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        Unavailable,
    )
)]
#[post("/admin/concerts")]
pub async fn create_concert(
    state: web::Data<AppState>,
    _admin: Admin,
    body: web::Json<NewConcertBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let schedules = body
        .schedules
        .into_iter()
        .enumerate()
        .map(
            |(i, s)| match (s.layout, s.rows, s.seats_per_row, s.price) {
                (Some(layout), None, None, None) => Ok(NewSchedule {
                    starts_at: s.starts_at,
                    rows: 0,
                    seats_per_row: 0,
                    price: Money::ZERO,
                    layout: Some(
                        layout
                            .into_layout(&format!("schedules[{i}]"))
                            .map_err(ApiError::validation)?,
                    ),
                }),
                (None, Some(rows), Some(seats_per_row), Some(price)) => {
                    let price = Money::new(price).map_err(|_| {
                        ApiError::validation(format!(
                            "schedules[{i}].price must be between 0 and {MAX_PRICE}"
                        ))
                    })?;
                    Ok(NewSchedule {
                        starts_at: s.starts_at,
                        rows,
                        seats_per_row,
                        price,
                        layout: None,
                    })
                }
                _ => Err(ApiError::validation(format!(
                    "schedules[{i}] needs either layout, or rows, seats_per_row and price"
                ))),
            },
        )
        .collect::<Result<Vec<_>, ApiError>>()?;
    let new = NewConcert {
        title: body.title,
        venue: body.venue,
        schedules,
    };
    let detail = state.catalog.create_concert(new).await?;
    Ok(HttpResponse::Created().json(ConcertDetailView::from(detail)))
}

/// Sets a concert's admission policy (operators).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    request_body = QueuePolicyBody,
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The policy now in force", body = QueuePolicyBody),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        (status = 409, description = "`policy-conflict`: a valid policy the line's state refuses — `sale_opens_at` once fans entered a line that has no pre-queue", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`policy-changed`: `If-Match` names a policy another operator has replaced since; read it again", body = Problem, content_type = "application/problem+json"),
        Unprocessable,
        Unavailable,
    )
)]
#[put("/admin/concerts/{concert_id}/queue-policy")]
pub async fn put_queue_policy(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    _admin: Admin,
    path: web::Path<i64>,
    body: web::Json<QueuePolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let concert = ConcertId(path.into_inner());
    // `If-Match`: refuse to overwrite a policy another operator changed since this one
    // read it (the console sends the ETag it got).
    if let Some(want) = req.headers().get(actix_web::http::header::IF_MATCH) {
        let want = want.to_str().unwrap_or_default().trim();
        let current = QueuePolicyBody::from(state.room.policy(concert).await?);
        if want != "*" && !want.split(',').any(|t| t.trim() == policy_etag(&current)) {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PRECONDITION_FAILED,
                "policy-changed",
                "Policy changed",
                "the policy was changed since you read it; reload it and apply your change again",
            ));
        }
    }
    let policy = state
        .room
        .set_policy(concert, QueuePolicy::from(body.into_inner()))
        .await?;
    let body = QueuePolicyBody::from(policy);
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::ETAG, policy_etag(&body)))
        .json(body))
}

/// The policy's entity tag: a strong validator of its JSON.
fn policy_etag(p: &QueuePolicyBody) -> String {
    use sha2::Digest;
    let json = serde_json::to_vec(p).unwrap_or_default();
    let digest = sha2::Sha256::digest(&json);
    format!("\"{}\"", hex::encode(&digest[..12]))
}

/// A concert's admission policy (operators).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The policy in force", body = QueuePolicyBody),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/concerts/{concert_id}/queue-policy")]
pub async fn get_queue_policy(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let policy = state.room.policy(ConcertId(path.into_inner())).await?;
    let body = QueuePolicyBody::from(policy);
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::ETAG, policy_etag(&body)))
        .json(body))
}

/// Live figures of a concert's waiting room (operators).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Live figures", body = QueueStatsView),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/concerts/{concert_id}/queue-stats")]
pub async fn get_queue_stats(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let stats = state.room.stats(ConcertId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(QueueStatsView::from(stats)))
}

/// How a concert's seats stand per schedule — left, held, sold, revenue (operators; the
/// console's charts poll it).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Seats by status, per schedule and in total", body = SalesSummaryView),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/concerts/{concert_id}/sales")]
pub async fn get_sales_summary(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let summary = state.sales.summary(ConcertId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(SalesSummaryView::from(summary)))
}

/// The header of the sales export: a seat's line has its reservation, seat id and label;
/// a standing place's line leaves those empty and names its area.
pub const SALES_CSV_HEADER: &str = "reservation_id,schedule_id,starts_at,seat_id,seat,user_id,\
    price,paid_at,order_id,standing_area\r\n";

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
pub(crate) fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Every sold place of a concert as CSV (RFC 4180, one line per seat and one per standing
/// place, in payment order; `price` in minor units, instants in RFC 3339 UTC), for the
/// operators' books. A returned or cancelled place is not listed.
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The sold places: header `reservation_id,schedule_id,starts_at,seat_id,seat,user_id,price,paid_at,order_id,standing_area`", body = String, content_type = "text/csv"),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/concerts/{concert_id}/sales.csv")]
pub async fn export_sales_csv(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    use std::fmt::Write;
    let concert = ConcertId(path.into_inner());
    let sales = state.sales.paid_seats(concert).await?;
    let starts: std::collections::HashMap<i64, String> = state
        .sales
        .summary(concert)
        .await?
        .schedules
        .into_iter()
        .map(|s| (s.schedule_id.0, s.starts_at.to_rfc3339()))
        .collect();
    let mut body = String::with_capacity(SALES_CSV_HEADER.len() + sales.len() * 96);
    body.push_str(SALES_CSV_HEADER);
    for s in sales {
        let (reservation, seat, label, area) = match &s.place {
            SoldPlace::Seat {
                reservation_id,
                seat_id,
                label,
            } => (
                reservation_id.0.to_string(),
                seat_id.0.to_string(),
                label.as_str(),
                "",
            ),
            SoldPlace::Standing { area } => (String::new(), String::new(), "", area.as_str()),
        };
        let _ = write!(
            body,
            "{reservation},{},{},{seat},{},{},{},{},{},{}\r\n",
            s.schedule_id.0,
            starts.get(&s.schedule_id.0).map_or("", String::as_str),
            csv_field(label),
            s.user_id.0,
            s.price.minor_units(),
            s.paid_at.to_rfc3339(),
            s.order_id.map(|o| o.0.to_string()).unwrap_or_default(),
            csv_field(area),
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"frontrow-sales-concert-{}.csv\"",
                concert.0
            ),
        ))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("A-12"), "A-12");
        assert_eq!(csv_field("A,1"), "\"A,1\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
