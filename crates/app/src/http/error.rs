//! `ApiError`: every failure as an RFC 9457 `application/problem+json` answer. Use-case
//! errors map to statuses here and nowhere else; 5xx answers log their cause chain and
//! never leak internals.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use frontrow_domain::accounts::AccountsError;
use frontrow_domain::booking::BookingError;
use frontrow_domain::boxoffice::OrderError;
use frontrow_domain::catalog::CatalogError;
use frontrow_domain::returns::ReturnsError;
use frontrow_domain::waiting_room::{GateError, WaitingRoomError};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type (`/problems/<slug>`).
    #[schema(example = "/problems/seat-taken")]
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(example = "Seat already taken")]
    pub title: String,
    #[schema(example = 409)]
    pub status: u16,
    #[schema(example = "seat is already taken")]
    pub detail: String,
}

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub retry_after: Option<u32>,
    source: Option<String>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            slug,
            title,
            detail: detail.into(),
            retry_after: None,
            source: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
            "Invalid input",
            detail,
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    pub fn forbidden(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, slug, "Forbidden", detail)
    }

    pub fn queue_token_required(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "queue-token-required",
            "Queue token required",
            detail,
        )
    }

    pub fn queue_token_invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "queue-token-invalid",
            "Invalid queue token",
            detail,
        )
    }

    /// A bug or a broken invariant on our side: 500, the cause logged, never sent.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "an internal error occurred",
        );
        e.source = Some(chain(cause));
        e
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// A backend (database or Redis) could not answer: 503 with `Retry-After`.
    pub fn unavailable(what: &'static str, cause: &dyn std::error::Error) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service-unavailable",
            "Service unavailable",
            format!("the {what} is temporarily unavailable; retry shortly"),
        );
        e.retry_after = Some(1);
        e.source = Some(chain(cause));
        e
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.slug, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                cause = self.source.as_deref().unwrap_or(""),
                "{}",
                self.detail
            );
        }
        let mut res = HttpResponse::build(self.status);
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        res.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        let detail = e.to_string();
        match e {
            GateError::Missing => ApiError::queue_token_required(detail),
            GateError::Invalid => ApiError::queue_token_invalid(detail),
            GateError::Waiting => ApiError::forbidden("not-admitted", detail),
            GateError::Expired => ApiError::forbidden("queue-token-expired", detail),
            GateError::OtherUser => ApiError::forbidden("queue-token-other-user", detail),
            GateError::OtherConcert => ApiError::forbidden("queue-token-other-concert", detail),
            GateError::Unavailable(src) => ApiError::unavailable("waiting room", src.as_ref()),
            // The line answered and said no: not an outage, and retrying does not help.
            GateError::Refused(why) => ApiError::new(
                StatusCode::CONFLICT,
                "queue-refused",
                "Refused by the waiting room",
                why,
            ),
        }
    }
}

impl From<WaitingRoomError> for ApiError {
    fn from(e: WaitingRoomError) -> Self {
        let detail = e.to_string();
        match e {
            WaitingRoomError::ConcertNotFound => ApiError::not_found(detail),
            WaitingRoomError::UnknownToken => ApiError::queue_token_invalid(detail),
            WaitingRoomError::InvalidPolicy(m) => ApiError::validation(m),
            WaitingRoomError::PolicyConflict(m) => ApiError::new(
                StatusCode::CONFLICT,
                "policy-conflict",
                "Conflicts with the line's state",
                m,
            ),
            WaitingRoomError::QueueUnavailable(src) => {
                ApiError::unavailable("waiting room", src.as_ref())
            }
            WaitingRoomError::Store(src) => ApiError::unavailable("database", &src),
            WaitingRoomError::NoDraw => ApiError::not_found(detail),
            WaitingRoomError::NotDrawnYet => ApiError::new(
                StatusCode::CONFLICT,
                "not-drawn-yet",
                "The draw has not run yet",
                detail,
            ),
            WaitingRoomError::LineClosed(_) => ApiError::new(
                StatusCode::CONFLICT,
                "queue-closed",
                "The concert's line is closed",
                detail,
            ),
        }
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        let detail = e.to_string();
        match e {
            AccountsError::InvalidName | AccountsError::InvalidAmount { .. } => {
                ApiError::validation(detail)
            }
            // Only a verified identity-provider token carries a subject.
            AccountsError::InvalidSubject => ApiError::unauthorized(detail),
            AccountsError::UserNotFound => ApiError::not_found(detail),
            AccountsError::BalanceLimit => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "balance-limit",
                "Balance limit",
                detail,
            ),
            AccountsError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                detail,
            ),
            AccountsError::InvalidIdempotencyKey { max } => {
                ApiError::validation(format!("Idempotency-Key must be 1 to {max} characters"))
            }
            AccountsError::Store(src) => ApiError::unavailable("database", &src),
        }
    }
}

impl From<ReturnsError> for ApiError {
    fn from(e: ReturnsError) -> Self {
        let detail = e.to_string();
        let conflict =
            |slug, title| ApiError::new(StatusCode::CONFLICT, slug, title, detail.clone());
        match e {
            ReturnsError::Invalid(why) => ApiError::validation(why),
            ReturnsError::InvalidIdempotencyKey { max } => {
                ApiError::validation(format!("Idempotency-Key must be 1 to {max} characters"))
            }
            ReturnsError::NotFound | ReturnsError::ScheduleNotFound | ReturnsError::NotJoined => {
                ApiError::not_found(detail)
            }
            ReturnsError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                detail,
            ),
            ReturnsError::AlreadyReturned => {
                conflict("ticket-already-returned", "Ticket already returned")
            }
            ReturnsError::ShowCancelled => conflict("show-cancelled", "Show cancelled"),
            ReturnsError::Revoked => conflict("ticket-revoked", "Ticket revoked"),
            ReturnsError::CheckedIn => conflict("ticket-checked-in", "Ticket checked in"),
            ReturnsError::TooLate { .. } => {
                conflict("return-cutoff-passed", "Returns closed for this show")
            }
            ReturnsError::NotSoldOut => conflict("not-sold-out", "Places are on sale"),
            ReturnsError::AlreadyJoined => {
                conflict("waitlist-already-joined", "Already on the waiting list")
            }
            ReturnsError::Store(src) => ApiError::unavailable("database", &src),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let detail = e.to_string();
        match e {
            CatalogError::ConcertNotFound | CatalogError::ScheduleNotFound => {
                ApiError::not_found(detail)
            }
            CatalogError::Invalid(m) => ApiError::validation(m),
            CatalogError::Store(src) => ApiError::unavailable("database", &src),
        }
    }
}

impl From<frontrow_domain::sales::SalesError> for ApiError {
    fn from(e: frontrow_domain::sales::SalesError) -> Self {
        use frontrow_domain::sales::SalesError;
        let detail = e.to_string();
        match e {
            SalesError::ConcertNotFound => ApiError::not_found(detail),
            SalesError::Store(src) => ApiError::unavailable("database", &src),
        }
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        let detail = e.to_string();
        match e {
            BookingError::Gate(g) => g.into(),
            BookingError::ScheduleNotFound
            | BookingError::SeatNotFound
            | BookingError::ReservationNotFound => ApiError::not_found(detail),
            BookingError::SeatTaken => ApiError::new(
                StatusCode::CONFLICT,
                "seat-taken",
                "Seat already taken",
                detail,
            ),
            BookingError::LimitReached { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "hold-limit-reached",
                "Hold limit reached",
                detail,
            ),
            BookingError::NotHeld { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "reservation-not-held",
                "Reservation not held",
                detail,
            ),
            BookingError::HoldExpired => {
                ApiError::new(StatusCode::GONE, "hold-expired", "Hold expired", detail)
            }
            BookingError::Cancelled => ApiError::new(
                StatusCode::GONE,
                "reservation-cancelled",
                "Reservation cancelled",
                detail,
            ),
            BookingError::AlreadyPaid => {
                ApiError::new(StatusCode::CONFLICT, "already-paid", "Already paid", detail)
            }
            BookingError::InsufficientBalance { .. } => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient-balance",
                "Insufficient balance",
                detail,
            ),
            BookingError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                detail,
            ),
            // The domain speaks of an idempotency key; the client sent it as a header.
            BookingError::InvalidIdempotencyKey { max } => {
                ApiError::validation(format!("Idempotency-Key must be 1 to {max} characters"))
            }
            BookingError::Store(src) => ApiError::unavailable("database", &src),
            BookingError::ExtensionNotAllowed => ApiError::new(
                StatusCode::CONFLICT,
                "hold-extension-not-allowed",
                "Hold extension not allowed",
                detail,
            ),
            BookingError::AlreadyExtended => ApiError::new(
                StatusCode::CONFLICT,
                "hold-already-extended",
                "Hold already extended",
                detail,
            ),
            BookingError::PartOfOrder { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "part-of-order",
                "Part of an order",
                detail,
            ),
            BookingError::Order(o) => o.into(),
        }
    }
}

/// Turns actix's extractor failures (bad JSON, wrong types, bad path or query) into
/// problem documents instead of actix's plain-text defaults.
///
/// What the HTTP layer refuses before a handler runs, and how:
/// - a JSON body that is not an object, malformed, of the wrong shape, too large or not
///   declared `application/json`: 422, 400, 413, 415 problems (here; see
///   `middleware::ObjectBody`);
/// - a path parameter or query string that does not parse: 404 and 400 problems (here);
/// - an unknown path: 404 problem; a known path with a method it does not take: 405
///   problem with `Allow` (`methods::no_route`);
/// - a rate limit: 429 problem with `Retry-After` (`limits::enforce`);
/// - no problem document is possible where actix's HTTP/1 codec answers before any
///   service runs: a malformed request line or header, or more headers than it takes
///   (400), a head larger than its buffer (431), a head not read within
///   `http.client_request_timeout_ms` (408, or the connection closed when nothing came)
///   — these come with an empty body; and an idle connection past
///   `http.keep_alive_seconds` or one open at shutdown is closed without an answer.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let e = match &err {
        J::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        ),
        J::Overflow { .. } | J::OverflowKnownLength { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            "the JSON body is too large",
        ),
        J::Payload(actix_web::error::PayloadError::Io(io))
            if io
                .get_ref()
                .is_some_and(|e| e.is::<super::middleware::NotAnObject>()) =>
        {
            let schema = req
                .app_data::<actix_web::web::Data<super::methods::KnownRoutes>>()
                .and_then(|k| k.body_schema(req.path(), req.method()))
                .map(|s| format!(" ({s} in the OpenAPI document)"))
                .unwrap_or_default();
            ApiError::validation(format!(
                "invalid JSON body: {io}; expected a JSON object{schema}"
            ))
        }
        J::Deserialize(d) if d.is_data() => ApiError::validation(format!("invalid JSON body: {d}")),
        J::Deserialize(d) => ApiError::bad_request(format!("malformed JSON body: {d}")),
        other => ApiError::bad_request(format!("unreadable JSON body: {other}")),
    };
    e.into()
}

pub fn path_error(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::not_found(format!("no such resource ({err})")).into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request(format!("invalid query string: {err}")).into()
}

/// The answer for a route that does not exist.
pub async fn route_not_found(req: actix_web::HttpRequest) -> HttpResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route-not-found",
        "Not found",
        format!("no route for {} {}", req.method(), req.path()),
    )
    .error_response()
}

fn seat_list(seats: &[frontrow_domain::model::SeatId]) -> String {
    seats
        .iter()
        .map(|s| s.0.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        let detail = e.to_string();
        match e {
            OrderError::Gate(g) => g.into(),
            OrderError::ScheduleNotFound | OrderError::NotFound => ApiError::not_found(detail),
            OrderError::Invalid(why) => ApiError::validation(why),
            OrderError::TooManyTickets { max } => {
                ApiError::validation(format!("at most {max} tickets per order"))
            }
            OrderError::SeatsNotFound(s) => {
                ApiError::validation(format!("seats not in this schedule: {}", seat_list(&s)))
            }
            OrderError::AreaNotFound(a) => {
                ApiError::validation(format!("no standing area {a:?} in this schedule"))
            }
            OrderError::SeatsTaken(s) => ApiError::new(
                StatusCode::CONFLICT,
                "seats-taken",
                "Seats already taken",
                format!("seats already taken: {}; nothing was held", seat_list(&s)),
            ),
            OrderError::NoSeatsLeft { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "no-seats-left",
                "No seats left together",
                format!("{detail}; nothing was held"),
            ),
            OrderError::Contended { .. } => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "seats-contended",
                    "Seats contended",
                    format!("{detail}; nothing was held, seats are left: try again"),
                );
                e.retry_after = Some(1);
                e
            }
            OrderError::AreaFull { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "standing-area-full",
                "Standing area full",
                format!("{detail}; nothing was held"),
            ),
            OrderError::FanLimit { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "ticket-limit-reached",
                "Ticket limit reached",
                detail,
            ),
            OrderError::CodeInvalid => ApiError::new(
                StatusCode::FORBIDDEN,
                "presale-code-invalid",
                "Presale code not valid",
                detail,
            ),
            OrderError::CodeExhausted { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "presale-code-exhausted",
                "Presale code used up",
                format!("{detail}; nothing was held"),
            ),
            OrderError::SeatsNotOnSale(s) => ApiError::new(
                StatusCode::FORBIDDEN,
                "not-on-sale",
                "Not on sale to you",
                format!(
                    "seats {} are in a presale you have no code for; nothing was held",
                    seat_list(&s)
                ),
            ),
            OrderError::AreaNotOnSale(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                "not-on-sale",
                "Not on sale to you",
                format!("{detail}; nothing was held"),
            ),
            OrderError::ShowCancelled => ApiError::new(
                StatusCode::CONFLICT,
                "show-cancelled",
                "Show cancelled",
                detail,
            ),
            OrderError::NotHeld(_) => ApiError::new(
                StatusCode::CONFLICT,
                "order-not-held",
                "Order not held",
                detail,
            ),
            OrderError::ExtensionNotAllowed => ApiError::new(
                StatusCode::CONFLICT,
                "hold-extension-not-allowed",
                "Hold extension not allowed",
                detail,
            ),
            OrderError::AlreadyExtended => ApiError::new(
                StatusCode::CONFLICT,
                "hold-already-extended",
                "Hold already extended",
                detail,
            ),
            OrderError::AdmissionEnds => ApiError::new(
                StatusCode::CONFLICT,
                "admission-ends",
                "Admission ends first",
                detail,
            ),
            OrderError::Expired => {
                ApiError::new(StatusCode::GONE, "hold-expired", "Hold expired", detail)
            }
            OrderError::Cancelled => ApiError::new(
                StatusCode::GONE,
                "order-cancelled",
                "Order cancelled",
                detail,
            ),
            OrderError::AlreadyPaid => {
                ApiError::new(StatusCode::CONFLICT, "already-paid", "Already paid", detail)
            }
            OrderError::InsufficientBalance { .. } => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient-balance",
                "Insufficient balance",
                detail,
            ),
            OrderError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                detail,
            ),
            OrderError::InvalidIdempotencyKey { max } => {
                ApiError::validation(format!("Idempotency-Key must be 1 to {max} characters"))
            }
            OrderError::Store(src) => ApiError::unavailable("database", &src),
        }
    }
}

impl From<frontrow_domain::tickets::TicketError> for ApiError {
    fn from(e: frontrow_domain::tickets::TicketError) -> Self {
        use frontrow_domain::tickets::TicketError;
        let detail = e.to_string();
        match e {
            TicketError::Invalid(why) => ApiError::validation(why),
            TicketError::GateKeyInvalid => ApiError::forbidden("gate-key-invalid", detail),
            TicketError::GateKeyWrongSchedule => {
                ApiError::forbidden("gate-key-wrong-schedule", detail)
            }
            TicketError::ScheduleNotFound | TicketError::NotFound => ApiError::not_found(detail),
            TicketError::Revoked => ApiError::new(
                StatusCode::CONFLICT,
                "ticket-revoked",
                "Ticket revoked",
                detail,
            ),
            TicketError::AlreadyAdmitted => ApiError::new(
                StatusCode::CONFLICT,
                "ticket-admitted",
                "Ticket already admitted",
                detail,
            ),
            TicketError::Store(src) => ApiError::unavailable("database", &src),
        }
    }
}

impl From<crate::guard::pow::PowRequired> for ApiError {
    /// 403 `pow-required`, saying what was wrong with the proof.
    fn from(e: crate::guard::pow::PowRequired) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "pow-required",
            "Proof of work required",
            e.0,
        )
    }
}

impl From<crate::guard::identity::IdentityError> for ApiError {
    /// 401 for a token the provider did not sign as asked; 503 + `Retry-After` while its
    /// keys were never fetched.
    fn from(e: crate::guard::identity::IdentityError) -> ApiError {
        use crate::guard::identity::IdentityError;
        match e {
            IdentityError::Rejected(detail) => ApiError::unauthorized(detail),
            IdentityError::KeysUnavailable { retry_after_secs } => {
                let mut a = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service-unavailable",
                    "Service unavailable",
                    e.to_string(),
                );
                a.retry_after = Some(retry_after_secs);
                a
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sold_out_is_a_conflict_and_contended_seats_a_retry() {
        let gone = ApiError::from(OrderError::NoSeatsLeft { count: 4 });
        assert_eq!(
            (gone.status, gone.slug, gone.retry_after),
            (StatusCode::CONFLICT, "no-seats-left", None)
        );
        let busy = ApiError::from(OrderError::Contended { count: 4 });
        assert_eq!(
            (busy.status, busy.slug, busy.retry_after),
            (StatusCode::SERVICE_UNAVAILABLE, "seats-contended", Some(1))
        );
        assert!(busy.detail.contains("try again"), "{}", busy.detail);
    }
}
