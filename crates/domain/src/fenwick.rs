//! A growable Fenwick (binary indexed) tree of counts: O(log n) prefix sums, point
//! updates and appends. Indexes are 1-based.

#[derive(Debug, Default, Clone)]
pub struct Fenwick {
    /// `tree[i - 1]` covers the indexes `(i - lowbit(i), i]`.
    tree: Vec<u32>,
}

fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl Fenwick {
    /// A tree holding `values` at indexes `1..`, built in O(n).
    pub fn from_values(values: impl IntoIterator<Item = u32>) -> Self {
        let mut tree: Vec<u32> = values.into_iter().collect();
        for i in 1..=tree.len() {
            let j = i + lowbit(i);
            if j <= tree.len() {
                tree[j - 1] = tree[j - 1].wrapping_add(tree[i - 1]);
            }
        }
        Fenwick { tree }
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Appends index `len() + 1` holding `value`.
    pub fn push(&mut self, value: u32) {
        let i = self.tree.len() + 1;
        let covered = self.prefix(i - 1) - self.prefix(i - lowbit(i));
        self.tree.push(value + covered as u32);
    }

    /// Adds `delta` at index `i` (1-based, `i <= len()`).
    pub fn add(&mut self, mut i: usize, delta: i32) {
        while i > 0 && i <= self.tree.len() {
            self.tree[i - 1] = self.tree[i - 1].wrapping_add_signed(delta);
            i += lowbit(i);
        }
    }

    /// The sum of indexes `1..=i`.
    pub fn prefix(&self, mut i: usize) -> u64 {
        let mut sum = 0u64;
        i = i.min(self.tree.len());
        while i > 0 {
            sum += u64::from(self.tree[i - 1]);
            i -= lowbit(i);
        }
        sum
    }

    /// The value at index `i` alone (0 past the end).
    pub fn at(&self, i: usize) -> u64 {
        if i == 0 || i > self.tree.len() {
            return 0;
        }
        self.prefix(i) - self.prefix(i - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_sums_match_a_plain_vector() {
        let mut f = Fenwick::default();
        let mut plain = Vec::new();
        for i in 0..1000u32 {
            let v = i % 3;
            f.push(v);
            plain.push(v as i64);
            if i % 7 == 0 {
                let at = (i as usize * 13) % plain.len();
                if plain[at] > 0 {
                    plain[at] -= 1;
                    f.add(at + 1, -1);
                }
            }
            let expect: i64 = plain.iter().sum();
            assert_eq!(f.prefix(plain.len()) as i64, expect);
            let half = plain.len() / 2;
            assert_eq!(f.prefix(half) as i64, plain[..half].iter().sum::<i64>());
        }
    }

    #[test]
    fn a_tree_built_at_once_equals_one_built_by_pushes() {
        let values: Vec<u32> = (0..333u32).map(|i| (i * 7) % 4).collect();
        let built = Fenwick::from_values(values.iter().copied());
        let mut pushed = Fenwick::default();
        for &v in &values {
            pushed.push(v);
        }
        for i in 0..=values.len() {
            assert_eq!(built.prefix(i), pushed.prefix(i));
        }
        assert_eq!(built.at(5), u64::from(values[4]));
        assert_eq!(built.at(0), 0);
        assert_eq!(built.at(999), 0);
    }
}
