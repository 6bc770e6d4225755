//! Best-available seating: where a party of `n` sits, as a pure function of the rows'
//! free seats. Adjacent seats of one row, nearest the stage and the centre of the row;
//! never a lone seat left between the party and a taken seat, an aisle or the row's end
//! unless no other block exists (then it says how many); a party split only when asked,
//! into the fewest, most even pieces.

use crate::model::SeatId;

/// One seat as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub id: SeatId,
    /// Place in the row, gaps counted: neighbours differ by one.
    pub x: u32,
    /// Nobody holds it and it is not sold.
    pub free: bool,
    /// It matches the request (category, section, accessibility).
    pub eligible: bool,
}

/// One row, cells ordered by `x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The section's rank (best first), then the row's (nearest the stage first).
    pub section_rank: u32,
    pub row_no: u32,
    pub cells: Vec<Cell>,
}

/// Where a party sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// The seats, in ascending id order.
    pub seats: Vec<SeatId>,
    /// All in one block of neighbours.
    pub together: bool,
    /// Lone free seats this pick leaves beside the party's blocks.
    pub lone_seats_left: u32,
}

/// What a party asks of the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub count: usize,
    /// May sit in several blocks when no block seats everyone.
    pub allow_split: bool,
    /// Refuse rather than leave a lone seat.
    pub strict: bool,
}

/// A block's place and its cost: lower is better, compared field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    lone: u32,
    section_rank: u32,
    row_no: u32,
    off_centre: u64,
    x: u32,
}

#[derive(Debug, Clone, Copy)]
struct Found {
    score: Score,
    row: usize,
    start: usize,
}

/// The best block of `count` neighbours over `rows`, or `None`.
fn best_block(rows: &[Row], count: usize, strict: bool) -> Option<Found> {
    if count == 0 {
        return None;
    }
    let mut best: Option<Found> = None;
    for (ri, row) in rows.iter().enumerate() {
        let cells = &row.cells;
        let (Some(first), Some(last)) = (cells.first(), cells.last()) else {
            continue;
        };
        let centre2 = u64::from(first.x) + u64::from(last.x);
        let mut i = 0;
        while i < cells.len() {
            if !cells[i].free {
                i += 1;
                continue;
            }
            // A run of free neighbours: cells[i..j].
            let mut j = i + 1;
            while j < cells.len() && cells[j].free && cells[j].x == cells[j - 1].x + 1 {
                j += 1;
            }
            let run = j - i;
            if run >= count {
                // Ineligible cells in the window, slid over the run.
                let mut bad = cells[i..i + count].iter().filter(|c| !c.eligible).count();
                for s in i..=j - count {
                    if s > i {
                        bad -= usize::from(!cells[s - 1].eligible);
                        bad += usize::from(!cells[s + count - 1].eligible);
                    }
                    if bad > 0 {
                        continue;
                    }
                    let left = s - i;
                    let right = j - (s + count);
                    let lone = u32::from(left == 1) + u32::from(right == 1);
                    if strict && lone > 0 {
                        continue;
                    }
                    let block2 = u64::from(cells[s].x) + u64::from(cells[s + count - 1].x);
                    let score = Score {
                        lone,
                        section_rank: row.section_rank,
                        row_no: row.row_no,
                        off_centre: block2.abs_diff(centre2),
                        x: cells[s].x,
                    };
                    if best.is_none_or(|b| score < b.score) {
                        best = Some(Found {
                            score,
                            row: ri,
                            start: s,
                        });
                    }
                }
            }
            i = j;
        }
    }
    best
}

/// Sizes of `count` split into `pieces` as evenly as possible, largest first.
fn even_pieces(count: usize, pieces: usize) -> Vec<usize> {
    let base = count / pieces;
    let extra = count % pieces;
    (0..pieces).map(|k| base + usize::from(k < extra)).collect()
}

/// Seats for a party over `rows`, or `None` when no block (or split, if allowed) fits.
pub fn pick(rows: &[Row], ask: Ask) -> Option<Pick> {
    if ask.count == 0 {
        return None;
    }
    if let Some(f) = best_block(rows, ask.count, ask.strict) {
        let mut seats: Vec<SeatId> = rows[f.row].cells[f.start..f.start + ask.count]
            .iter()
            .map(|c| c.id)
            .collect();
        seats.sort_unstable();
        return Some(Pick {
            seats,
            together: true,
            lone_seats_left: f.score.lone,
        });
    }
    if !ask.allow_split {
        return None;
    }
    let mut work = rows.to_vec();
    for pieces in 2..=ask.count {
        let mut seats = Vec::with_capacity(ask.count);
        let mut lone = 0;
        let mut taken: Vec<(usize, usize)> = Vec::new();
        let mut ok = true;
        for size in even_pieces(ask.count, pieces) {
            match best_block(&work, size, ask.strict) {
                Some(f) => {
                    for k in f.start..f.start + size {
                        work[f.row].cells[k].free = false;
                        taken.push((f.row, k));
                        seats.push(work[f.row].cells[k].id);
                    }
                    lone += f.score.lone;
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            seats.sort_unstable();
            // Lone seats are counted on the final state: a later piece may fill the
            // gap an earlier one left.
            let lone_now = taken_rows_lone(&work, &taken);
            return Some(Pick {
                seats,
                together: false,
                lone_seats_left: lone.min(lone_now),
            });
        }
        for (r, k) in taken {
            work[r].cells[k].free = true;
        }
    }
    None
}

/// Lone free seats in the rows touched by `taken`.
fn taken_rows_lone(rows: &[Row], taken: &[(usize, usize)]) -> u32 {
    let mut touched: Vec<usize> = taken.iter().map(|(r, _)| *r).collect();
    touched.sort_unstable();
    touched.dedup();
    touched.iter().map(|r| lone_seats(&rows[*r])).sum()
}

/// Free seats of `row` with no free neighbour (both sides taken, a gap or the row's end)
/// that do have a seat beside them: the seats a party of one is left to fill.
pub fn lone_seats(row: &Row) -> u32 {
    let cells = &row.cells;
    let mut n = 0;
    for (i, c) in cells.iter().enumerate() {
        if !c.free {
            continue;
        }
        let left = i > 0 && cells[i - 1].x + 1 == c.x;
        let right = i + 1 < cells.len() && cells[i + 1].x == c.x + 1;
        let left_free = left && cells[i - 1].free;
        let right_free = right && cells[i + 1].free;
        if (left || right) && !left_free && !right_free {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// A row from a picture: `.` free, `x` taken, ` ` a gap; ids are row*1000 + x.
    fn row(no: u32, picture: &str) -> Row {
        Row {
            section_rank: 0,
            row_no: no,
            cells: picture
                .chars()
                .enumerate()
                .filter(|(_, ch)| *ch != ' ')
                .map(|(x, ch)| Cell {
                    id: SeatId(i64::from(no) * 1000 + x as i64),
                    x: x as u32,
                    free: ch == '.',
                    eligible: true,
                })
                .collect(),
        }
    }

    fn xs(p: &Pick) -> Vec<i64> {
        p.seats.iter().map(|s| s.0 % 1000).collect()
    }

    fn ask(count: usize) -> Ask {
        Ask {
            count,
            allow_split: false,
            strict: false,
        }
    }

    #[test]
    fn a_party_sits_together_in_the_front_row_centre() {
        let rows = vec![row(0, "........."), row(1, ".........")];
        let p = pick(&rows, ask(3)).unwrap();
        assert_eq!(xs(&p), vec![3, 4, 5]);
        assert!(p.seats.iter().all(|s| s.0 < 1000));
        assert!(p.together);
        assert_eq!(p.lone_seats_left, 0);
    }

    #[test]
    fn an_aisle_breaks_a_block() {
        // Front row: 3 + 3 around an aisle; a party of 4 goes to the second row.
        let rows = vec![row(0, "... ..."), row(1, "......")];
        let p = pick(&rows, ask(4)).unwrap();
        assert!(p.seats.iter().all(|s| s.0 >= 1000));
        assert!(p.together);
    }

    #[test]
    fn no_lone_seat_is_left_when_another_block_exists() {
        // Front row has 3 free between taken seats: a party of 2 would leave one alone.
        let rows = vec![row(0, "x...x"), row(1, "....")];
        let p = pick(&rows, ask(2)).unwrap();
        assert!(p.seats.iter().all(|s| s.0 >= 1000), "{p:?}");
        assert_eq!(p.lone_seats_left, 0);
    }

    #[test]
    fn a_lone_seat_is_left_only_when_nothing_else_fits_and_is_reported() {
        let rows = vec![row(0, "x...x")];
        let p = pick(&rows, ask(2)).unwrap();
        assert_eq!(p.lone_seats_left, 1);
        assert!(
            pick(
                &rows,
                Ask {
                    strict: true,
                    ..ask(2)
                }
            )
            .is_none()
        );
    }

    #[test]
    fn a_party_is_split_only_when_allowed_into_even_pieces() {
        let rows = vec![row(0, "...x..."), row(1, "x.x.x")];
        assert!(pick(&rows, ask(6)).is_none());
        let p = pick(
            &rows,
            Ask {
                allow_split: true,
                ..ask(6)
            },
        )
        .unwrap();
        assert!(!p.together);
        assert_eq!(p.seats.len(), 6);
        assert!(p.seats.iter().all(|s| s.0 < 1000), "two threes in row 0");
    }

    #[test]
    fn ineligible_seats_are_never_picked() {
        let mut r = row(0, "......");
        for c in &mut r.cells[..3] {
            c.eligible = false;
        }
        let p = pick(&[r], ask(3)).unwrap();
        assert_eq!(xs(&p), vec![3, 4, 5]);
    }

    #[test]
    fn lone_seats_are_counted() {
        assert_eq!(lone_seats(&row(0, "x.x..x. .")), 2);
        assert_eq!(lone_seats(&row(0, ". .")), 0);
    }

    /// Random layouts and parties: every pick is free, eligible, the right size, one row
    /// of neighbours when together, and in strict mode leaves no new lone seat.
    #[test]
    fn random_layouts_keep_every_rule() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..400 {
            let nrows = rng.random_range(1..6);
            let mut rows: Vec<Row> = (0..nrows)
                .map(|r| {
                    let len = rng.random_range(1..25);
                    let pic: String = (0..len)
                        .map(|_| match rng.random_range(0..10) {
                            0 => ' ',
                            1 | 2 => 'x',
                            _ => '.',
                        })
                        .collect();
                    row(r, &pic)
                })
                .collect();
            for _ in 0..30 {
                let a = Ask {
                    count: rng.random_range(1..7),
                    allow_split: rng.random_bool(0.3),
                    strict: rng.random_bool(0.5),
                };
                let before: u32 = rows.iter().map(lone_seats).sum();
                let Some(p) = pick(&rows, a) else {
                    // Refused: then no strict-acceptable block of that size exists.
                    if !a.allow_split {
                        assert!(best_block(&rows, a.count, a.strict).is_none());
                    }
                    continue;
                };
                assert_eq!(p.seats.len(), a.count);
                let mut uniq = p.seats.clone();
                uniq.dedup();
                assert_eq!(uniq.len(), a.count);
                for s in &p.seats {
                    let c = rows
                        .iter_mut()
                        .flat_map(|r| r.cells.iter_mut())
                        .find(|c| c.id == *s)
                        .unwrap();
                    assert!(c.free && c.eligible);
                    c.free = false;
                }
                if p.together {
                    let r0 = p.seats[0].0 / 1000;
                    assert!(p.seats.iter().all(|s| s.0 / 1000 == r0));
                    let x: Vec<i64> = p.seats.iter().map(|s| s.0 % 1000).collect();
                    assert!(x.windows(2).all(|w| w[1] == w[0] + 1), "{x:?}");
                }
                if a.strict {
                    let after: u32 = rows.iter().map(lone_seats).sum();
                    assert!(after <= before, "strict pick left a lone seat: {p:?}");
                }
            }
        }
    }
}
