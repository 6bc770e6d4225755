//! OpenAPI links: how the answer of one operation feeds the next, along a fan's way
//! (sign up → enter the line → standing → order or hold → pay) and an operator's (create
//! a concert → its dates, seats, policy, presale codes). Clients and Schemathesis's
//! stateful phase follow them; utoipa's derive cannot say them, so they are added to the
//! generated document here.

use serde_json::{Value, json};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::{OpenApi, Ref, RefOr};

/// One link: from an answer of `from` (operationId) with `status`, to `to`, named `name`,
/// with its parameters (`path.x`, `header.X`) and an optional body to merge.
struct FlowLink {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
    body: Option<fn() -> Value>,
}

const fn link(
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
) -> FlowLink {
    FlowLink {
        from,
        status,
        name,
        to,
        parameters,
        body: None,
    }
}

const fn with_body(mut l: FlowLink, body: fn() -> Value) -> FlowLink {
    l.body = Some(body);
    l
}

const BEARER: (&str, &str) = (
    "header.Authorization",
    "Bearer {$response.body#/access_token}",
);
const QUEUE_TOKEN: (&str, &str) = ("header.X-Queue-Token", "$response.body#/token");
const CONCERT: (&str, &str) = ("path.concert_id", "$response.body#/id");
const FIRST_CONCERT: (&str, &str) = ("path.concert_id", "$response.body#/0/id");
const FIRST_SCHEDULE_OF_CONCERT: (&str, &str) =
    ("path.schedule_id", "$response.body#/schedules/0/id");
const FIRST_SCHEDULE: (&str, &str) = ("path.schedule_id", "$response.body#/0/id");
const SAME_SCHEDULE: (&str, &str) = ("path.schedule_id", "$request.path.schedule_id");
const ORDER: (&str, &str) = ("path.order_id", "$response.body#/id");
const RESERVATION: (&str, &str) = ("path.reservation_id", "$response.body#/id");

fn order_of_schedule() -> Value {
    json!({ "schedule_id": "$request.path.schedule_id" })
}

fn hold_first_seat() -> Value {
    json!({ "schedule_id": "$request.path.schedule_id", "seat_id": "$response.body#/0/id" })
}

fn order_first_seat() -> Value {
    json!({ "schedule_id": "$request.path.schedule_id", "seats": ["$response.body#/0/id"] })
}

fn order_with_code() -> Value {
    json!({ "schedule_id": "$request.path.schedule_id", "presale_code": "$response.body#/0/code" })
}

fn order_of_first_schedule() -> Value {
    json!({ "schedule_id": "$response.body#/schedules/0/id" })
}

/// Every link of the document.
fn flow() -> Vec<FlowLink> {
    vec![
        // A fan: sign up, then everything with the new access token.
        link("create_user", "201", "EnterQueue", "enter_queue", &[BEARER]),
        link("create_user", "201", "Wallet", "get_wallet", &[BEARER]),
        link(
            "create_user",
            "201",
            "ChargeWallet",
            "charge_wallet",
            &[BEARER],
        ),
        link("create_user", "201", "Orders", "list_orders", &[BEARER]),
        link(
            "create_user",
            "201",
            "Challenge",
            "queue_challenge",
            &[BEARER],
        ),
        // The line: the token from entering is the standing's and the booking's key.
        link(
            "enter_queue",
            "201",
            "Status",
            "queue_status",
            &[QUEUE_TOKEN],
        ),
        link(
            "enter_queue",
            "200",
            "Status",
            "queue_status",
            &[QUEUE_TOKEN],
        ),
        link("enter_queue", "201", "Leave", "leave_queue", &[QUEUE_TOKEN]),
        link("enter_queue", "200", "Leave", "leave_queue", &[QUEUE_TOKEN]),
        link(
            "enter_queue",
            "201",
            "PlaceOrder",
            "place_order",
            &[QUEUE_TOKEN],
        ),
        link(
            "enter_queue",
            "200",
            "PlaceOrder",
            "place_order",
            &[QUEUE_TOKEN],
        ),
        link(
            "enter_queue",
            "201",
            "HoldSeat",
            "hold_seat",
            &[QUEUE_TOKEN],
        ),
        link(
            "enter_queue",
            "200",
            "HoldSeat",
            "hold_seat",
            &[QUEUE_TOKEN],
        ),
        // The catalog: concert → dates → seats and availability → order or hold.
        link(
            "list_concerts",
            "200",
            "Concert",
            "get_concert",
            &[FIRST_CONCERT],
        ),
        link(
            "list_concerts",
            "200",
            "Schedules",
            "list_schedules",
            &[FIRST_CONCERT],
        ),
        link(
            "list_concerts",
            "200",
            "EnterQueue",
            "enter_queue",
            &[FIRST_CONCERT],
        ),
        link(
            "get_concert",
            "200",
            "Seats",
            "list_seats",
            &[FIRST_SCHEDULE_OF_CONCERT],
        ),
        link(
            "get_concert",
            "200",
            "Availability",
            "get_availability",
            &[FIRST_SCHEDULE_OF_CONCERT],
        ),
        link(
            "get_concert",
            "200",
            "EnterQueue",
            "enter_queue",
            &[CONCERT],
        ),
        with_body(
            link("get_concert", "200", "PlaceOrder", "place_order", &[]),
            order_of_first_schedule,
        ),
        link(
            "list_schedules",
            "200",
            "Seats",
            "list_seats",
            &[FIRST_SCHEDULE],
        ),
        link(
            "list_schedules",
            "200",
            "Availability",
            "get_availability",
            &[FIRST_SCHEDULE],
        ),
        with_body(
            link("list_seats", "200", "HoldSeat", "hold_seat", &[]),
            hold_first_seat,
        ),
        with_body(
            link("list_seats", "200", "PlaceOrder", "place_order", &[]),
            order_first_seat,
        ),
        with_body(
            link("get_availability", "200", "PlaceOrder", "place_order", &[]),
            order_of_schedule,
        ),
        // An order: read, pay, extend, cancel.
        link("place_order", "201", "Order", "get_order", &[ORDER]),
        link("place_order", "201", "Pay", "pay_order", &[ORDER]),
        link("place_order", "201", "Extend", "extend_order", &[ORDER]),
        link("place_order", "201", "Cancel", "cancel_order", &[ORDER]),
        link(
            "list_orders",
            "200",
            "Order",
            "get_order",
            &[("path.order_id", "$response.body#/0/id")],
        ),
        link("extend_order", "200", "Pay", "pay_order", &[ORDER]),
        // A single seat's hold: read, pay, extend, cancel.
        link(
            "hold_seat",
            "201",
            "Reservation",
            "get_reservation",
            &[RESERVATION],
        ),
        link("hold_seat", "201", "Pay", "pay_reservation", &[RESERVATION]),
        link(
            "hold_seat",
            "201",
            "Extend",
            "extend_reservation",
            &[RESERVATION],
        ),
        link(
            "hold_seat",
            "201",
            "Cancel",
            "cancel_reservation",
            &[RESERVATION],
        ),
        link(
            "extend_reservation",
            "200",
            "Pay",
            "pay_reservation",
            &[RESERVATION],
        ),
        // Operators: a new concert, its policy, figures, dates and presale codes.
        link(
            "create_concert",
            "201",
            "Concert",
            "get_concert",
            &[CONCERT],
        ),
        link(
            "create_concert",
            "201",
            "Schedules",
            "list_schedules",
            &[CONCERT],
        ),
        link(
            "create_concert",
            "201",
            "PutPolicy",
            "put_queue_policy",
            &[CONCERT],
        ),
        link(
            "create_concert",
            "201",
            "Policy",
            "get_queue_policy",
            &[CONCERT],
        ),
        link(
            "create_concert",
            "201",
            "Stats",
            "get_queue_stats",
            &[CONCERT],
        ),
        link(
            "create_concert",
            "201",
            "Sales",
            "get_sales_summary",
            &[CONCERT],
        ),
        link("create_concert", "201", "Draw", "get_draw", &[CONCERT]),
        link(
            "create_concert",
            "201",
            "EnterQueue",
            "enter_queue",
            &[CONCERT],
        ),
        link(
            "create_concert",
            "201",
            "Seats",
            "list_seats",
            &[FIRST_SCHEDULE_OF_CONCERT],
        ),
        link(
            "create_concert",
            "201",
            "PresaleCodes",
            "create_presale_codes",
            &[FIRST_SCHEDULE_OF_CONCERT],
        ),
        link(
            "put_queue_policy",
            "200",
            "Stats",
            "get_queue_stats",
            &[("path.concert_id", "$request.path.concert_id")],
        ),
        link(
            "create_presale_codes",
            "201",
            "List",
            "list_presale_codes",
            &[SAME_SCHEDULE],
        ),
        link(
            "create_presale_codes",
            "201",
            "Cancel",
            "cancel_presale_code",
            &[SAME_SCHEDULE, ("path.code", "$response.body#/0/code")],
        ),
        with_body(
            link(
                "create_presale_codes",
                "201",
                "PlaceOrder",
                "place_order",
                &[],
            ),
            order_with_code,
        ),
    ]
}

/// Adds the links to `api`'s responses. utoipa 5's `Link` serializes its fields in snake
/// case (`operation_id`), which no client reads, so each link object is written here as
/// JSON under the components' extension `x-links` and the response refers to it
/// (`$ref: '#/components/x-links/<name>'`, a Reference Object as OpenAPI allows). A link
/// whose source operation or answer is not in the document is left out
/// (`tests/openapi.rs` keeps that from happening).
pub fn document(mut api: OpenApi) -> OpenApi {
    let mut objects = serde_json::Map::new();
    for l in flow() {
        let key = format!("{}-{}-{}", l.from, l.status, l.name);
        let mut object = serde_json::Map::new();
        object.insert("operationId".into(), Value::from(l.to));
        if !l.parameters.is_empty() {
            let parameters: serde_json::Map<String, Value> = l
                .parameters
                .iter()
                .map(|(name, value)| ((*name).to_owned(), Value::from(*value)))
                .collect();
            object.insert("parameters".into(), Value::Object(parameters));
        }
        if let Some(body) = l.body {
            object.insert("requestBody".into(), body());
        }
        let mut found = false;
        for item in api.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                if op.operation_id.as_deref() != Some(l.from) {
                    continue;
                }
                if let Some(RefOr::T(response)) = op.responses.responses.get_mut(l.status) {
                    let target = format!("#/components/x-links/{key}");
                    response
                        .links
                        .insert(l.name.to_owned(), RefOr::Ref(Ref::new(target)));
                    found = true;
                }
            }
        }
        if found {
            objects.insert(key, Value::Object(object));
        }
    }
    let components = api.components.get_or_insert_with(Default::default);
    components
        .extensions
        .get_or_insert_with(Default::default)
        .merge(
            ExtensionsBuilder::new()
                .add("x-links", Value::Object(objects))
                .build(),
        );
    api
}
