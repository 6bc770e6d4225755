//! Handlers of presale codes (`admin` tag, operators): create codes one by one or in
//! bulk, list them (JSON or CSV), cancel one.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use frontrow_domain::boxoffice::model::{NewPresaleCodes, PresaleCode};
use frontrow_domain::model::{ScheduleId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::admin::csv_field;
use super::auth::Admin;
use super::error::ApiError;
use super::responses::{Forbidden, JsonBodyProblems, NotFound, Unauthorized, Unavailable};

/// Presale codes to create: `codes` as given and/or `count` generated ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPresaleCodesBody {
    /// Codes chosen by the operator: 4 to 64 letters, digits and dashes each, each once.
    #[serde(default)]
    #[schema(schema_with = code_list)]
    pub codes: Vec<String>,
    /// How many random codes to generate (with `codes`: 1 to 10,000 in all).
    #[serde(default)]
    #[schema(maximum = 10000)]
    pub count: u32,
    /// Hidden price categories the codes open (with `sections`: at least one in all).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Hidden sections (seated or standing) the codes open.
    #[serde(default)]
    pub sections: Vec<String>,
    pub starts_at: DateTime<Utc>,
    /// Exclusive end of the window, after `starts_at`.
    pub ends_at: DateTime<Utc>,
    /// Tickets one code may buy in all, 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_tickets: u32,
    /// Bind every code of the batch to this account.
    pub user_id: Option<i64>,
}

/// The schema of `codes`: up to 10,000 codes a fan can type.
fn code_list() -> utoipa::openapi::Array {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(4))
                .max_length(Some(64))
                .pattern(Some(CODE_PATTERN)),
        )
        .max_items(Some(frontrow_domain::boxoffice::MAX_CODES_PER_BATCH))
        .build()
}

/// What [`frontrow_domain::boxoffice::valid_code`] accepts.
const CODE_PATTERN: &str = "^[A-Za-z0-9-]{4,64}$";

/// A presale code.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresaleCodeView {
    #[schema(example = "K7QM-X2RD-9TPA")]
    pub code: String,
    pub schedule_id: i64,
    pub categories: Vec<String>,
    pub sections: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub max_tickets: u32,
    /// Tickets of live or paid orders placed with the code.
    pub used: u32,
    pub user_id: Option<i64>,
    pub cancelled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<PresaleCode> for PresaleCodeView {
    fn from(c: PresaleCode) -> Self {
        PresaleCodeView {
            code: c.code,
            schedule_id: c.schedule_id.0,
            categories: c.categories,
            sections: c.sections,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            max_tickets: c.max_tickets,
            used: c.used,
            user_id: c.user_id.map(|u| u.0),
            cancelled: c.cancelled,
            created_at: c.created_at,
        }
    }
}

/// Creates presale codes for a schedule (operators): all of the batch or none.
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    request_body = NewPresaleCodesBody,
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "The codes created", body = [PresaleCodeView]),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[post("/admin/schedules/{schedule_id}/presale-codes")]
pub async fn create_presale_codes(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
    body: web::Json<NewPresaleCodesBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let new = NewPresaleCodes {
        schedule_id: ScheduleId(path.into_inner()),
        codes: b.codes,
        categories: b.categories,
        sections: b.sections,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        max_tickets: b.max_tickets,
        user_id: b.user_id.map(UserId),
        now: state.now(),
    };
    let codes = state.boxoffice.create_presale_codes(new, b.count).await?;
    let views: Vec<PresaleCodeView> = codes.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Created().json(views))
}

/// A schedule's presale codes (operators).
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The codes, oldest first", body = [PresaleCodeView]),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/schedules/{schedule_id}/presale-codes")]
pub async fn list_presale_codes(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let codes = state
        .boxoffice
        .presale_codes(ScheduleId(path.into_inner()))
        .await?;
    let views: Vec<PresaleCodeView> = codes.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// The header of the presale codes export.
pub const CODES_CSV_HEADER: &str =
    "code,schedule_id,categories,sections,starts_at,ends_at,max_tickets,used,user_id,cancelled\r\n";

/// A schedule's presale codes as CSV (RFC 4180; lists joined with `;`), to hand out.
#[utoipa::path(
    tag = "admin",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The codes", body = String, content_type = "text/csv"),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/schedules/{schedule_id}/presale-codes.csv")]
pub async fn export_presale_codes(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    use std::fmt::Write;
    let schedule = path.into_inner();
    let codes = state.boxoffice.presale_codes(ScheduleId(schedule)).await?;
    let mut body = String::with_capacity(CODES_CSV_HEADER.len() + codes.len() * 128);
    body.push_str(CODES_CSV_HEADER);
    for c in codes {
        let _ = write!(
            body,
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(&c.code),
            c.schedule_id.0,
            csv_field(&c.categories.join(";")),
            csv_field(&c.sections.join(";")),
            c.starts_at.to_rfc3339(),
            c.ends_at.to_rfc3339(),
            c.max_tickets,
            c.used,
            c.user_id.map(|u| u.0.to_string()).unwrap_or_default(),
            c.cancelled,
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"presale-codes-{schedule}.csv\""),
        ))
        .body(body))
}

/// Cancels a presale code (operators): it opens nothing from now on; orders already
/// held with it keep their seats.
#[utoipa::path(
    tag = "admin",
    params(
        ("schedule_id" = i64, Path, description = "Schedule id"),
        ("code" = String, Path, description = "The code", min_length = 4, max_length = 64, pattern = "^[A-Za-z0-9-]{4,64}$"),
    ),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Cancelled"),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[delete("/admin/schedules/{schedule_id}/presale-codes/{code}")]
pub async fn cancel_presale_code(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (schedule, code) = path.into_inner();
    state
        .boxoffice
        .cancel_presale_code(ScheduleId(schedule), &code)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
