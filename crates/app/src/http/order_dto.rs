//! Request and response bodies of the box office (`orders` tag) and of venue layouts.

use chrono::{DateTime, Utc};
use frontrow_domain::boxoffice::model::{Availability, Order, OrderReceipt};
use frontrow_domain::boxoffice::{BestAvailable, OrderAsk};
use frontrow_domain::model::{Money, ScheduleId, SeatId};
use frontrow_domain::venue::{
    CategoryRange, Layout, LayoutRow, MAX_PRICE, PriceCategory, Section, SectionKind,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Best-available seats for a party.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BestAvailableBody {
    /// How many seats, 1 to `booking.max_tickets_per_order` (default 8).
    #[schema(minimum = 1, maximum = 8, example = 4)]
    pub count: u32,
    /// Only seats of this price category.
    #[schema(min_length = 1, max_length = 64)]
    pub category: Option<String>,
    /// Only seats of this section.
    #[schema(min_length = 1, max_length = 64)]
    pub section: Option<String>,
    /// Only accessible seats.
    #[serde(default)]
    pub accessible: bool,
    /// May seat the party in several blocks (fewest, most even) when no block fits all.
    #[serde(default)]
    pub allow_split: bool,
    /// Refuse (409) rather than leave a lone seat beside the party.
    #[serde(default)]
    pub strict: bool,
}

/// Places in one standing area.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandingBody {
    /// The area's name (a standing section of the layout).
    #[schema(min_length = 1, max_length = 64, example = "Floor")]
    pub area: String,
    /// Places, 1 to `booking.max_tickets_per_order` (default 8).
    #[schema(minimum = 1, maximum = 8)]
    pub quantity: u32,
}

/// What a party orders: picked seats or best-available, and standing places. Held all
/// together, with one expiry, or not at all. At least one of `seats`, `best_available`
/// and `standing`; `seats` and `best_available` not together; at most
/// `booking.max_tickets_per_order` (default 8) tickets in all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    pub schedule_id: i64,
    /// Seats picked on the map (not with `best_available`), each once.
    #[serde(default)]
    #[schema(max_items = 8)]
    pub seats: Vec<i64>,
    pub best_available: Option<BestAvailableBody>,
    /// Standing places, each area once.
    #[serde(default)]
    #[schema(max_items = 8)]
    pub standing: Vec<StandingBody>,
    /// A presale code opening hidden categories or sections.
    #[schema(min_length = 4, max_length = 64, pattern = "^[A-Za-z0-9-]{4,64}$")]
    pub presale_code: Option<String>,
}

impl From<OrderBody> for OrderAsk {
    fn from(b: OrderBody) -> Self {
        OrderAsk {
            schedule_id: ScheduleId(b.schedule_id),
            seats: b.seats.into_iter().map(SeatId).collect(),
            best_available: b.best_available.map(|x| BestAvailable {
                count: x.count,
                category: x.category,
                section: x.section,
                accessible: x.accessible,
                allow_split: x.allow_split,
                strict: x.strict,
            }),
            standing: b
                .standing
                .into_iter()
                .map(|s| (s.area, s.quantity))
                .collect(),
            presale_code: b.presale_code,
        }
    }
}

/// One position of an order: a seat, or places in a standing area.
#[derive(Debug, Serialize, ToSchema)]
pub struct PositionView {
    pub seat_id: Option<i64>,
    #[schema(example = "A-12")]
    pub label: Option<String>,
    pub section: String,
    pub row: Option<String>,
    pub number: Option<u32>,
    /// The standing area (for standing places).
    pub area: Option<String>,
    pub quantity: u32,
    pub category: String,
    /// Price of one ticket, minor units.
    pub price: i64,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    /// `HELD` | `PAID` | `CANCELLED` | `EXPIRED`.
    #[schema(example = "HELD")]
    pub status: &'static str,
    pub concert_id: i64,
    pub schedule_id: i64,
    /// Sum of every position, minor units.
    pub total: i64,
    pub positions: Vec<PositionView>,
    /// Every seat in one block of neighbours.
    pub together: bool,
    /// Lone free seats best-available had to leave beside the party.
    pub lone_seats_left: u32,
    pub created_at: DateTime<Utc>,
    /// Never later than `admitted_until`.
    pub expires_at: DateTime<Utc>,
    /// The end of the buyer's admission.
    pub admitted_until: DateTime<Utc>,
    pub extended_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    /// A place held for the caller from the schedule's waiting list: pay it without a
    /// queue token before `expires_at`.
    pub waitlist_offer: bool,
    /// The operator cancelled the show: a paid order was refunded (`refunds`), a held
    /// one cancelled.
    pub show_cancelled: bool,
    /// Everything credited back for this order, minor units.
    pub refunded: i64,
    /// Each credit: a returned ticket, or the rest of the order when the show was
    /// cancelled.
    pub refunds: Vec<super::returns_dto::RefundView>,
}

impl OrderView {
    pub fn new(o: Order, now: DateTime<Utc>) -> Self {
        let status = o.status_at(now).as_str();
        let mut positions: Vec<PositionView> = o
            .seats
            .into_iter()
            .map(|s| PositionView {
                seat_id: Some(s.seat_id.0),
                label: Some(s.label),
                section: s.section,
                row: Some(s.row),
                number: Some(s.number),
                area: None,
                quantity: 1,
                category: s.category,
                price: s.price.minor_units(),
            })
            .collect();
        positions.extend(o.standing.into_iter().map(|s| PositionView {
            seat_id: None,
            label: None,
            section: s.area.clone(),
            row: None,
            number: None,
            area: Some(s.area),
            quantity: s.quantity,
            category: s.category,
            price: s.price.minor_units(),
        }));
        OrderView {
            id: o.id.0,
            status,
            concert_id: o.concert_id.0,
            schedule_id: o.schedule_id.0,
            total: o.total.minor_units(),
            positions,
            together: o.together,
            lone_seats_left: o.lone_seats_left,
            created_at: o.created_at,
            expires_at: o.expires_at,
            admitted_until: o.admitted_until,
            extended_at: o.extended_at,
            paid_at: o.paid_at,
            waitlist_offer: o.offer,
            show_cancelled: o.show_cancelled,
            refunded: o.refunds.iter().map(|r| r.amount.minor_units()).sum(),
            refunds: o.refunds.into_iter().map(Into::into).collect(),
        }
    }
}

/// A paid order's receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPaymentView {
    pub order_id: i64,
    pub concert_id: i64,
    pub schedule_id: i64,
    pub amount: i64,
    /// The wallet balance right after this payment.
    pub balance: i64,
    pub paid_at: DateTime<Utc>,
    /// True when this answer replays an earlier payment with the same key.
    pub replayed: bool,
}

impl From<OrderReceipt> for OrderPaymentView {
    fn from(r: OrderReceipt) -> Self {
        OrderPaymentView {
            order_id: r.order_id.0,
            concert_id: r.concert_id.0,
            schedule_id: r.schedule_id.0,
            amount: r.amount.minor_units(),
            balance: r.balance.minor_units(),
            paid_at: r.paid_at,
            replayed: r.replayed,
        }
    }
}

/// What is left in one price category.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryAvailabilityView {
    pub category: String,
    pub price: i64,
    pub total: u64,
    pub available: u64,
}

/// What is left in one standing area.
#[derive(Debug, Serialize, ToSchema)]
pub struct AreaAvailabilityView {
    pub area: String,
    pub category: String,
    pub price: i64,
    pub capacity: u64,
    pub available: u64,
}

/// A schedule's availability per seat category and standing area.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityView {
    pub categories: Vec<CategoryAvailabilityView>,
    pub standing: Vec<AreaAvailabilityView>,
}

impl From<Availability> for AvailabilityView {
    fn from(a: Availability) -> Self {
        AvailabilityView {
            categories: a
                .categories
                .into_iter()
                .map(|c| CategoryAvailabilityView {
                    category: c.category,
                    price: c.price.minor_units(),
                    total: c.total,
                    available: c.available,
                })
                .collect(),
            standing: a
                .areas
                .into_iter()
                .map(|a| AreaAvailabilityView {
                    area: a.area,
                    category: a.category,
                    price: a.price.minor_units(),
                    capacity: a.capacity,
                    available: a.available,
                })
                .collect(),
        }
    }
}

/// A price category of a layout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    /// 1 to 64 characters without surrounding spaces, unique in the layout.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^\S([\s\S]*\S)?$",
        example = "Floor"
    )]
    pub name: String,
    /// Minor units.
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub price: i64,
    /// Sold only with a presale code that opens it.
    #[serde(default)]
    pub hidden: bool,
}

/// Seats `from..=to` of a row in another category than their section's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRangeBody {
    /// First seat number of the range (not above `to`).
    pub from: u32,
    pub to: u32,
    #[schema(min_length = 1, max_length = 64)]
    pub category: String,
}

/// One row: seat numbers in the order they stand, `null` for an aisle or gap.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowBody {
    /// 1 to 64 characters without surrounding spaces, unique in the section.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^\S([\s\S]*\S)?$",
        example = "A"
    )]
    pub label: String,
    /// Up to 1,000 places; seat numbers 1 to 100,000, at least one seat.
    #[schema(min_items = 1, max_items = 1000)]
    pub seats: Vec<Option<u32>>,
    #[serde(default)]
    pub accessible: Vec<u32>,
    #[serde(default)]
    pub blocked: Vec<u32>,
    #[serde(default)]
    pub categories: Vec<CategoryRangeBody>,
}

/// A section: seated (`rows`) or standing (`capacity`), listed best first.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionBody {
    /// 1 to 64 characters without surrounding spaces, unique in the layout.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^\S([\s\S]*\S)?$",
        example = "Floor A"
    )]
    pub name: String,
    /// The section's default price category (one of the layout's `categories`).
    #[schema(min_length = 1, max_length = 64)]
    pub category: String,
    /// Rows, nearest the stage first (a seated section): 1 to 500.
    #[schema(min_items = 1, max_items = 500)]
    pub rows: Option<Vec<RowBody>>,
    /// Places sold by quantity (a standing section): 1 to 200,000.
    #[schema(minimum = 1, maximum = 200_000)]
    pub capacity: Option<u32>,
}

/// A venue layout: price categories and sections.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutBody {
    #[schema(min_items = 1, max_items = 32)]
    pub categories: Vec<CategoryBody>,
    #[schema(min_items = 1, max_items = 64)]
    pub sections: Vec<SectionBody>,
}

impl LayoutBody {
    /// The domain's layout; the text names the first field that cannot be one.
    pub fn into_layout(self, at: &str) -> Result<Layout, String> {
        let mut categories = Vec::with_capacity(self.categories.len());
        for (i, c) in self.categories.into_iter().enumerate() {
            let price = Money::new(c.price)
                .ok()
                .filter(|p| *p <= MAX_PRICE)
                .ok_or_else(|| {
                    format!("{at}.layout.categories[{i}].price must be between 0 and {MAX_PRICE}")
                })?;
            categories.push(PriceCategory {
                name: c.name,
                price,
                hidden: c.hidden,
            });
        }
        let mut sections = Vec::with_capacity(self.sections.len());
        for (i, s) in self.sections.into_iter().enumerate() {
            let kind = match (s.rows, s.capacity) {
                (Some(rows), None) => SectionKind::Seated {
                    rows: rows
                        .into_iter()
                        .map(|r| LayoutRow {
                            label: r.label,
                            seats: r.seats,
                            accessible: r.accessible,
                            blocked: r.blocked,
                            categories: r
                                .categories
                                .into_iter()
                                .map(|c| CategoryRange {
                                    from: c.from,
                                    to: c.to,
                                    category: c.category,
                                })
                                .collect(),
                        })
                        .collect(),
                },
                (None, Some(capacity)) => SectionKind::Standing { capacity },
                _ => {
                    return Err(format!(
                        "{at}.layout.sections[{i}] needs exactly one of rows (seated) or capacity (standing)"
                    ));
                }
            };
            sections.push(Section {
                name: s.name,
                category: s.category,
                kind,
            });
        }
        Ok(Layout {
            categories,
            sections,
        })
    }
}
