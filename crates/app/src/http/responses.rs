//! Reusable OpenAPI responses: every error answer is an RFC 9457 problem document
//! (`application/problem+json`), said once here and named in each operation's
//! `responses(...)`. `JsonBodyProblems` goes on every operation with a JSON body and
//! `NotFound` on every operation with a path id, as the server answers them there.

use utoipa::IntoResponses;

use super::error::Problem;

/// What the JSON body extractor answers (the body is never read otherwise).
#[derive(IntoResponses)]
pub enum JsonBodyProblems {
    #[response(
        status = 400,
        description = "Malformed JSON",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    #[response(
        status = 413,
        description = "Body larger than 256 KiB",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "Body not sent as application/json",
        content_type = "application/problem+json"
    )]
    UnsupportedMediaType(Problem),
    #[response(
        status = 422,
        description = "Wrong field types, or values out of bounds",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
}

#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "A required header is missing or unreadable",
    content_type = "application/problem+json"
)]
pub struct BadRequest(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "Missing or invalid access token, operator key or queue token",
    content_type = "application/problem+json"
)]
pub struct Unauthorized(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 402,
    description = "Insufficient balance",
    content_type = "application/problem+json"
)]
pub struct PaymentRequired(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "Wrong operator key, or a queue token not admitted, expired, or another user's or concert's",
    content_type = "application/problem+json"
)]
pub struct Forbidden(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "Unknown id (or another user's), or a path id that is not a 64-bit integer",
    content_type = "application/problem+json"
)]
pub struct NotFound(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "Conflicts with the current state (seat taken, hold limit, not held, already paid)",
    content_type = "application/problem+json"
)]
pub struct Conflict(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 410,
    description = "Hold expired or reservation cancelled",
    content_type = "application/problem+json"
)]
pub struct Gone(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Invalid input",
    content_type = "application/problem+json"
)]
pub struct Unprocessable(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "Database or waiting room unavailable (see Retry-After)",
    content_type = "application/problem+json"
)]
pub struct Unavailable(pub Problem);
