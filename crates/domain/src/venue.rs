//! A schedule's venue layout: price categories, seated sections of rows (with aisles,
//! accessible and blocked seats) and standing areas sold by quantity. The operator sends
//! it as one document; [`Layout::expand`] turns it into the seats and areas to store.

use std::collections::HashSet;

use crate::model::Money;

/// The most price categories one layout may name.
pub const MAX_CATEGORIES: usize = 32;
/// The most sections (seated and standing) one layout may have.
pub const MAX_SECTIONS: usize = 64;
/// The most rows one seated section may have.
pub const MAX_ROWS_PER_SECTION: usize = 500;
/// The most places (seats and aisle gaps) one row may have.
pub const MAX_ROW_PLACES: usize = 1_000;
/// The most seats one schedule may have.
pub const MAX_SEATS: usize = 100_000;
/// The largest standing area.
pub const MAX_STANDING_CAPACITY: u32 = 200_000;
/// The longest name of a section, row, area or category, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The highest price of one ticket, in minor units.
pub const MAX_PRICE: Money = Money::from_u32(100_000_000);

/// A price category: every seat or standing place belongs to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceCategory {
    pub name: String,
    pub price: Money,
    /// Sold only to holders of a presale code that opens it.
    pub hidden: bool,
}

/// A seat range of one row given another category than its section's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRange {
    /// First and last seat number of the range, inclusive.
    pub from: u32,
    pub to: u32,
    pub category: String,
}

/// One row, in the order the seats stand: `None` is an aisle or a gap, so the seats on
/// either side of it are not neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRow {
    pub label: String,
    pub seats: Vec<Option<u32>>,
    /// Seat numbers fit for a wheelchair or a companion.
    pub accessible: Vec<u32>,
    /// Seat numbers never sold (a camera, a kill seat); they break adjacency like a gap.
    pub blocked: Vec<u32>,
    pub categories: Vec<CategoryRange>,
}

/// What a section is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// Rows of numbered seats, the first row nearest the stage.
    Seated { rows: Vec<LayoutRow> },
    /// Places sold by quantity up to a capacity.
    Standing { capacity: u32 },
}

/// A section of the venue; sections are listed best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// The section's default category.
    pub category: String,
    pub kind: SectionKind,
}

/// A whole venue layout for one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub categories: Vec<PriceCategory>,
    pub sections: Vec<Section>,
}

/// One seat to store, as expanded from a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutSeat {
    pub section: String,
    /// The section's place in the layout, best first.
    pub section_rank: u32,
    /// The row's place in the schedule (unique across sections), nearest the stage first
    /// within a section.
    pub row_no: u32,
    pub row_label: String,
    pub number: u32,
    /// The seat's place in its row, gaps counted: two seats are neighbours when their
    /// `x` differ by one.
    pub x: u32,
    pub category: String,
    pub price: Money,
    pub accessible: bool,
    /// Its category is hidden: sold only with a presale code.
    pub hidden: bool,
}

/// One standing area to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutArea {
    pub name: String,
    pub section_rank: u32,
    pub category: String,
    pub price: Money,
    pub capacity: u32,
    pub hidden: bool,
}

/// The row letters of row `row` (0-based): `A`…`Z`, `AA`, `AB`, …
pub fn row_letters(row: u32) -> String {
    let mut letters = Vec::new();
    let mut n = u64::from(row) + 1; // bijective base 26
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.reverse();
    letters.into_iter().collect()
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    let n = name.trim().chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.trim() != name {
        return Err(format!(
            "{what} must be 1 to {MAX_NAME_CHARS} characters without surrounding spaces"
        ));
    }
    Ok(())
}

impl Layout {
    /// The rectangular shorthand: one seated section of `rows` rows of `seats_per_row`
    /// seats, all in one category at `price`.
    pub fn rectangle(rows: u32, seats_per_row: u32, price: Money) -> Layout {
        Layout {
            categories: vec![PriceCategory {
                name: "Standard".into(),
                price,
                hidden: false,
            }],
            sections: vec![Section {
                name: "Main".into(),
                category: "Standard".into(),
                kind: SectionKind::Seated {
                    rows: (0..rows)
                        .map(|r| LayoutRow {
                            label: row_letters(r),
                            seats: (1..=seats_per_row).map(Some).collect(),
                            accessible: Vec::new(),
                            blocked: Vec::new(),
                            categories: Vec::new(),
                        })
                        .collect(),
                },
            }],
        }
    }

    fn hidden(&self, category: &str) -> bool {
        self.categories
            .iter()
            .any(|c| c.name == category && c.hidden)
    }

    fn price_of(&self, category: &str) -> Option<Money> {
        self.categories
            .iter()
            .find(|c| c.name == category)
            .map(|c| c.price)
    }

    /// Checks every bound and reference; the text names the offending field.
    ///
    /// # Errors
    /// A message naming the first field out of bounds.
    pub fn validate(&self) -> Result<(), String> {
        if self.categories.is_empty() || self.categories.len() > MAX_CATEGORIES {
            return Err(format!(
                "layout.categories must have 1 to {MAX_CATEGORIES} entries"
            ));
        }
        let mut names = HashSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            check_name(&format!("layout.categories[{i}].name"), &c.name)?;
            if !names.insert(c.name.as_str()) {
                return Err(format!("layout.categories[{i}].name repeats {:?}", c.name));
            }
            if c.price > MAX_PRICE {
                return Err(format!(
                    "layout.categories[{i}].price must be between 0 and {MAX_PRICE}"
                ));
            }
        }
        if self.sections.is_empty() || self.sections.len() > MAX_SECTIONS {
            return Err(format!(
                "layout.sections must have 1 to {MAX_SECTIONS} entries"
            ));
        }
        let mut sections = HashSet::new();
        let mut seats = 0usize;
        for (i, s) in self.sections.iter().enumerate() {
            let at = format!("layout.sections[{i}]");
            check_name(&format!("{at}.name"), &s.name)?;
            if !sections.insert(s.name.as_str()) {
                return Err(format!("{at}.name repeats {:?}", s.name));
            }
            if self.price_of(&s.category).is_none() {
                return Err(format!(
                    "{at}.category {:?} is not in layout.categories",
                    s.category
                ));
            }
            match &s.kind {
                SectionKind::Standing { capacity } => {
                    if *capacity == 0 || *capacity > MAX_STANDING_CAPACITY {
                        return Err(format!(
                            "{at}.capacity must be between 1 and {MAX_STANDING_CAPACITY}"
                        ));
                    }
                }
                SectionKind::Seated { rows } => {
                    if rows.is_empty() || rows.len() > MAX_ROWS_PER_SECTION {
                        return Err(format!(
                            "{at}.rows must have 1 to {MAX_ROWS_PER_SECTION} entries"
                        ));
                    }
                    let mut labels = HashSet::new();
                    for (j, r) in rows.iter().enumerate() {
                        let at = format!("{at}.rows[{j}]");
                        check_name(&format!("{at}.label"), &r.label)?;
                        if !labels.insert(r.label.as_str()) {
                            return Err(format!("{at}.label repeats {:?}", r.label));
                        }
                        if r.seats.len() > MAX_ROW_PLACES {
                            return Err(format!(
                                "{at}.seats must have at most {MAX_ROW_PLACES} places"
                            ));
                        }
                        let numbers: Vec<u32> = r.seats.iter().flatten().copied().collect();
                        if numbers.is_empty() {
                            return Err(format!("{at}.seats must have at least one seat"));
                        }
                        let mut seen = HashSet::new();
                        for n in &numbers {
                            if *n == 0 || *n > 100_000 {
                                return Err(format!(
                                    "{at}.seats: seat numbers must be between 1 and 100000"
                                ));
                            }
                            if !seen.insert(*n) {
                                return Err(format!("{at}.seats repeats seat {n}"));
                            }
                        }
                        for (what, list) in [("accessible", &r.accessible), ("blocked", &r.blocked)]
                        {
                            if let Some(n) = list.iter().find(|n| !seen.contains(n)) {
                                return Err(format!("{at}.{what} names seat {n}, not in the row"));
                            }
                        }
                        for (k, c) in r.categories.iter().enumerate() {
                            if c.from > c.to {
                                return Err(format!(
                                    "{at}.categories[{k}]: from must not exceed to"
                                ));
                            }
                            if self.price_of(&c.category).is_none() {
                                return Err(format!(
                                    "{at}.categories[{k}].category {:?} is not in layout.categories",
                                    c.category
                                ));
                            }
                        }
                        seats += numbers.len();
                        if seats > MAX_SEATS {
                            return Err(format!("layout has more than {MAX_SEATS} seats"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The seats to store (blocked seats left out) and the standing areas, in layout
    /// order. Call [`Layout::validate`] first: unknown categories price at zero here.
    pub fn expand(&self) -> (Vec<LayoutSeat>, Vec<LayoutArea>) {
        let mut seats = Vec::new();
        let mut areas = Vec::new();
        let mut row_no = 0u32;
        for (rank, s) in self.sections.iter().enumerate() {
            let rank = u32::try_from(rank).unwrap_or(u32::MAX);
            match &s.kind {
                SectionKind::Standing { capacity } => areas.push(LayoutArea {
                    name: s.name.clone(),
                    section_rank: rank,
                    category: s.category.clone(),
                    price: self.price_of(&s.category).unwrap_or(Money::ZERO),
                    capacity: *capacity,
                    hidden: self.hidden(&s.category),
                }),
                SectionKind::Seated { rows } => {
                    for r in rows {
                        for (x, n) in r.seats.iter().enumerate() {
                            let Some(n) = *n else { continue };
                            if r.blocked.contains(&n) {
                                continue;
                            }
                            let category = r
                                .categories
                                .iter()
                                .rev()
                                .find(|c| (c.from..=c.to).contains(&n))
                                .map_or(&s.category, |c| &c.category);
                            seats.push(LayoutSeat {
                                section: s.name.clone(),
                                section_rank: rank,
                                row_no,
                                row_label: r.label.clone(),
                                number: n,
                                x: u32::try_from(x).unwrap_or(u32::MAX),
                                category: category.clone(),
                                price: self.price_of(category).unwrap_or(Money::ZERO),
                                accessible: r.accessible.contains(&n),
                                hidden: self.hidden(category),
                            });
                        }
                        row_no += 1;
                    }
                }
            }
        }
        (seats, areas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, seats: Vec<Option<u32>>) -> LayoutRow {
        LayoutRow {
            label: label.into(),
            seats,
            accessible: vec![],
            blocked: vec![],
            categories: vec![],
        }
    }

    fn arena() -> Layout {
        Layout {
            categories: vec![
                PriceCategory {
                    name: "VIP".into(),
                    price: Money::from_u32(300),
                    hidden: false,
                },
                PriceCategory {
                    name: "Floor".into(),
                    price: Money::from_u32(100),
                    hidden: false,
                },
            ],
            sections: vec![
                Section {
                    name: "A".into(),
                    category: "Floor".into(),
                    kind: SectionKind::Seated {
                        rows: vec![
                            LayoutRow {
                                blocked: vec![2],
                                accessible: vec![1],
                                categories: vec![CategoryRange {
                                    from: 3,
                                    to: 4,
                                    category: "VIP".into(),
                                }],
                                ..row("1", vec![Some(1), Some(2), Some(3), None, Some(4)])
                            },
                            row("2", vec![Some(1), Some(2)]),
                        ],
                    },
                },
                Section {
                    name: "Pit".into(),
                    category: "Floor".into(),
                    kind: SectionKind::Standing { capacity: 500 },
                },
            ],
        }
    }

    #[test]
    fn a_layout_expands_to_seats_with_gaps_categories_and_areas() {
        let l = arena();
        l.validate().unwrap();
        let (seats, areas) = l.expand();
        let got: Vec<(u32, u32, u32, &str, bool)> = seats
            .iter()
            .map(|s| (s.row_no, s.number, s.x, s.category.as_str(), s.accessible))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 1, 0, "Floor", true),
                (0, 3, 2, "VIP", false),
                (0, 4, 4, "VIP", false),
                (1, 1, 0, "Floor", false),
                (1, 2, 1, "Floor", false),
            ]
        );
        assert_eq!(seats[1].price, Money::from_u32(300));
        assert_eq!(areas.len(), 1);
        assert_eq!(areas[0].capacity, 500);
        assert_eq!(areas[0].section_rank, 1);
    }

    #[test]
    fn the_rectangle_shorthand_is_one_section_and_one_category() {
        let l = Layout::rectangle(2, 3, Money::from_u32(50));
        l.validate().unwrap();
        let (seats, areas) = l.expand();
        assert_eq!(seats.len(), 6);
        assert!(areas.is_empty());
        assert_eq!(seats[3].row_label, "B");
        assert_eq!(seats[3].x, 0);
    }

    #[test]
    fn invalid_layouts_name_the_field() {
        type Change = Box<dyn Fn(&mut Layout)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|l| l.categories.clear()), "layout.categories"),
            (
                Box::new(|l| l.sections[0].category = "Nope".into()),
                "sections[0].category",
            ),
            (
                Box::new(|l| l.sections[1].name = "A".into()),
                "sections[1].name repeats",
            ),
            (
                Box::new(|l| {
                    l.sections[1].kind = SectionKind::Standing { capacity: 0 };
                }),
                "sections[1].capacity",
            ),
            (
                Box::new(|l| {
                    if let SectionKind::Seated { rows } = &mut l.sections[0].kind {
                        rows[1].seats = vec![Some(1), Some(1)];
                    }
                }),
                "repeats seat 1",
            ),
            (
                Box::new(|l| {
                    if let SectionKind::Seated { rows } = &mut l.sections[0].kind {
                        rows[1].blocked = vec![9];
                    }
                }),
                "blocked names seat 9",
            ),
            (
                Box::new(|l| l.categories[0].price = Money::from_u32(100_000_001)),
                "price",
            ),
        ];
        for (change, field) in cases {
            let mut l = arena();
            change(&mut l);
            let e = l.validate().unwrap_err();
            assert!(e.contains(field), "{e} lacks {field}");
        }
    }

    #[test]
    fn row_letters_run_past_z() {
        assert_eq!(row_letters(0), "A");
        assert_eq!(row_letters(25), "Z");
        assert_eq!(row_letters(26), "AA");
    }
}
