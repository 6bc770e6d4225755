//! Handlers of the `queue` tag: enter the waiting room, poll the token (its heartbeat),
//! leave. The operator's side is in `admin`.

use actix_web::http::header::ContentEncoding;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use frontrow_domain::model::ConcertId;
use frontrow_domain::queue::{Ticket, TicketStatus, poll_after_ms};

use super::AppState;
use super::auth::{AuthUser, QueueTokenHeader};
use super::dto::TicketView;
use super::error::ApiError;
use super::error::Problem;
use super::responses::{NotFound, Unauthorized, Unavailable};
use crate::guard::admission::AdmissionSigner;
use crate::guard::pow::PowGate;

/// Enters the concert's waiting room: 201 with a new place, 200 with the existing one.
/// When the concert's policy asks a proof of work (`pow_difficulty` > 0), send
/// `X-Pow: <challenge>:<nonce>` solving a challenge from `GET …/queue/challenge`.
#[utoipa::path(
    tag = "queue",
    params(
        ("concert_id" = i64, Path, description = "Concert id"),
        ("X-Pow" = Option<String>, Header, description = "`<challenge>:<nonce>`, when the line asks a proof of work"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "New place in line", body = TicketView),
        (status = 200, description = "The place this user already has", body = TicketView),
        (status = 403, description = "Proof of work missing, wrong, expired or already used (/problems/pow-required)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The line is closed: sold out, closed by the operator, or the concert started (/problems/queue-closed)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[post("/concerts/{concert_id}/queue")]
pub async fn enter_queue(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    signer: Option<web::Data<AdmissionSigner>>,
    pow: Option<web::Data<PowGate>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let concert = ConcertId(path.into_inner());
    if let Some(pow) = pow {
        let difficulty = state.room.policy(concert).await?.pow_difficulty;
        let header = req.headers().get("x-pow").and_then(|v| v.to_str().ok());
        pow.check(header, concert, user.0, difficulty, state.now())
            .await?;
    }
    let entered = state.room.enter(concert, user.0).await?;
    let view = TicketView::new(entered.ticket.clone(), state.queue_idle_timeout_seconds)
        .with_pass(&entered.ticket, signer.as_ref().map(|s| s.get_ref()));
    Ok(if entered.created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Where the token stands. Poll it: a waiting token not polled for the idle timeout
/// leaves the line.
#[utoipa::path(
    tag = "queue",
    params(("X-Queue-Token" = String, Header, description = "The token from entering")),
    security(("queue_token" = [])),
    responses(
        (status = 200, description = "The token's standing", body = TicketView),
        Unauthorized,
        Unavailable,
    )
)]
#[get("/queue/status")]
pub async fn queue_status(
    state: web::Data<AppState>,
    token: QueueTokenHeader,
    signer: Option<web::Data<AdmissionSigner>>,
) -> Result<HttpResponse, ApiError> {
    let ticket = state.room.status(token.required()?).await?;
    // Never compressed: the fans' poll is the hottest answer and a small one; gzip or
    // brotli would halve the polls an instance answers to save a hundred bytes each.
    Ok(HttpResponse::Ok()
        .insert_header(ContentEncoding::Identity)
        .json(
            TicketView::new(ticket.clone(), state.queue_idle_timeout_seconds)
                .with_pass(&ticket, signer.as_ref().map(|s| s.get_ref())),
        ))
}

/// The `token` query parameter of the event stream.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// The token from entering (`EventSource` cannot send headers).
    pub token: String,
}

/// The token's standing pushed as Server-Sent Events: an `event: standing` with a
/// `TicketView` at once, again whenever it changes materially (status, the position
/// by at least 1 %, or the sale paused or resumed), at least every 15 s, and the moment
/// the fan is admitted; the stream ends after an `ACTIVE`, `EXPIRED` or `SOLD_OUT`
/// standing (a `PRE_QUEUE` one goes on: the draw at the opening gives the position).
/// Being connected is the heartbeat. When the waiting room becomes unavailable the stream ends with an
/// `event: unavailable` and the browser reconnects by itself (`retry`).
#[utoipa::path(
    tag = "queue",
    params(EventsQuery),
    responses(
        (status = 200, description = "A stream of standings", content_type = "text/event-stream", body = String),
        (status = 400, description = "The token query parameter is missing", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        Unavailable,
    )
)]
#[get("/queue/events")]
pub async fn queue_events(
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
    signer: Option<web::Data<AdmissionSigner>>,
) -> Result<HttpResponse, ApiError> {
    let token = query.into_inner().token;
    // The first standing is checked before the stream starts, so a bad token is a 401.
    let first = state.room.status(&token).await?;
    let stream = SseStream {
        state,
        token,
        signer,
    };
    let stream = futures::stream::unfold(SseState::Start(first, stream), |sse| async move {
        sse.next().await
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        // `identity` keeps the `Compress` middleware off this response: it would
        // buffer the events until its encoder's block fills.
        .insert_header(ContentEncoding::Identity)
        .streaming(stream))
}

/// What one event stream reads from.
struct SseStream {
    state: web::Data<AppState>,
    token: String,
    /// Signs the pass of an `ACTIVE` standing, as `GET /queue/status` does (the same
    /// cache, so both give the same pass for one admission).
    signer: Option<web::Data<AdmissionSigner>>,
}

impl SseStream {
    fn standing(&self, ticket: Ticket) -> web::Bytes {
        let idle = self.state.queue_idle_timeout_seconds;
        let view = TicketView::new(ticket.clone(), idle)
            .with_pass(&ticket, self.signer.as_ref().map(|s| s.get_ref()));
        sse_event(
            "standing",
            &serde_json::to_string(&view).unwrap_or_default(),
        )
    }
}

/// Where one event stream is.
enum SseState {
    Start(Ticket, SseStream),
    Running {
        stream: SseStream,
        last: Ticket,
        sent_at: std::time::Instant,
    },
    Done,
}

/// Whether the stream goes on: the fan waits, in the line or in the pre-queue.
fn still_in_line(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Waiting | TicketStatus::PreQueue)
}

/// A standing worth pushing: another status, or a position at least 1 % closer.
fn material(old: &Ticket, new: &Ticket) -> bool {
    if old.status != new.status {
        return true;
    }
    // Paused or resumed (the estimate appears or goes): the page says so at once.
    if old.eta_seconds.is_some() != new.eta_seconds.is_some() {
        return true;
    }
    match (old.position, new.position) {
        (Some(a), Some(b)) => a.abs_diff(b) >= (a / 100).max(1),
        _ => false,
    }
}

fn sse_event(name: &str, data: &str) -> web::Bytes {
    web::Bytes::from(format!("event: {name}\nretry: 2000\ndata: {data}\n\n"))
}

impl SseState {
    async fn next(self) -> Option<(Result<web::Bytes, actix_web::Error>, SseState)> {
        match self {
            SseState::Done => None,
            SseState::Start(first, stream) => {
                let ends = !still_in_line(first.status);
                let bytes = stream.standing(first.clone());
                let next = if ends {
                    SseState::Done
                } else {
                    SseState::Running {
                        stream,
                        last: first,
                        sent_at: std::time::Instant::now(),
                    }
                };
                Some((Ok(bytes), next))
            }
            SseState::Running {
                stream,
                mut last,
                mut sent_at,
            } => loop {
                let idle = stream.state.queue_idle_timeout_seconds;
                // A quarter of the advised poll cadence: near the front that is the
                // shortest poll (admission seen within a fraction of a second), far
                // back a few seconds (a crowd of streams costs little).
                let pause = (poll_after_ms(&last, idle, chrono::Utc::now()) / 4).clamp(125, 5_000);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                let now = match stream.state.room.status(&stream.token).await {
                    Ok(t) => t,
                    Err(e) => {
                        let bytes = sse_event(
                            "unavailable",
                            &format!("{{\"detail\":{:?}}}", e.to_string()),
                        );
                        return Some((Ok(bytes), SseState::Done));
                    }
                };
                let due = sent_at.elapsed() >= std::time::Duration::from_secs(15);
                if material(&last, &now) || due {
                    let ends = !still_in_line(now.status);
                    let bytes = stream.standing(now.clone());
                    if ends {
                        return Some((Ok(bytes), SseState::Done));
                    }
                    last = now;
                    sent_at = std::time::Instant::now();
                    return Some((
                        Ok(bytes),
                        SseState::Running {
                            stream,
                            last,
                            sent_at,
                        },
                    ));
                }
                last.eta_seconds = now.eta_seconds;
            },
        }
    }
}

/// Leaves the line, or gives up the active slot.
#[utoipa::path(
    tag = "queue",
    params(("X-Queue-Token" = String, Header, description = "The token from entering")),
    security(("queue_token" = [])),
    responses(
        (status = 204, description = "Left"),
        Unauthorized,
        Unavailable,
    )
)]
#[delete("/queue")]
pub async fn leave_queue(
    state: web::Data<AppState>,
    token: QueueTokenHeader,
) -> Result<HttpResponse, ApiError> {
    state.room.leave(token.required()?).await?;
    Ok(HttpResponse::NoContent().finish())
}
