//! Queue tokens: where a fan stands in the entry order, and a compact store for a
//! million of them.

/// The entry sequence written in a self-describing token `<concert>.<seq>.<user>.<mac>`.
/// `None` for today's opaque `<concert>.<32 hex>` tokens (and anything else): the
/// simulator then orders fans by when their enter calls were sent and answered.
pub fn entry_seq(token: &str) -> Option<u64> {
    let mut parts = token.split('.');
    let (_concert, seq) = (parts.next()?, parts.next()?);
    let (_user, _mac) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seq.parse().ok()
}

/// Where one token lives in a [`TokenStore`]. `len == 0` marks the compact form.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenRef {
    off: u32,
    len: u8,
}

impl TokenRef {
    /// A fan with no token yet (never read before it gets one).
    pub const EMPTY: TokenRef = TokenRef { off: 0, len: 0 };
}

/// All fans' tokens in one byte arena: 16 bytes for an opaque `<concert>.<32 hex>`
/// token of the simulated concert (the hex decoded), the raw text for any other form.
pub struct TokenStore {
    concert: String,
    bytes: Vec<u8>,
}

impl TokenStore {
    pub fn new(concert: i64, capacity_fans: usize) -> Self {
        TokenStore {
            concert: concert.to_string(),
            bytes: Vec::with_capacity(capacity_fans.saturating_mul(16)),
        }
    }

    /// Stores `token`; `None` when it does not fit (longer than 255 bytes, or the arena
    /// past 4 GiB).
    pub fn push(&mut self, token: &str) -> Option<TokenRef> {
        let off = u32::try_from(self.bytes.len()).ok()?;
        if let Some(hex) = self
            .compact_part(token)
            .and_then(|h| u128::from_str_radix(h, 16).ok())
        {
            self.bytes.extend_from_slice(&hex.to_be_bytes());
            return Some(TokenRef { off, len: 0 });
        }
        let len = u8::try_from(token.len()).ok().filter(|l| *l > 0)?;
        self.bytes.extend_from_slice(token.as_bytes());
        Some(TokenRef { off, len })
    }

    /// The 32 lowercase hex digits of an opaque token of this concert.
    fn compact_part<'a>(&self, token: &'a str) -> Option<&'a str> {
        let (concert, hex) = token.split_once('.')?;
        (concert == self.concert
            && hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then_some(hex)
    }

    /// The token's text.
    pub fn get(&self, r: TokenRef) -> String {
        let off = r.off as usize;
        if r.len == 0 {
            let mut raw = [0u8; 16];
            raw.copy_from_slice(&self.bytes[off..off + 16]);
            format!("{}.{:032x}", self.concert, u128::from_be_bytes(raw))
        } else {
            String::from_utf8_lossy(&self.bytes[off..off + r.len as usize]).into_owned()
        }
    }

    pub fn bytes_used(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_describing_token_gives_its_entry_sequence() {
        assert_eq!(entry_seq("7.123456.42.a1b2c3"), Some(123_456));
        assert_eq!(entry_seq("7.0.42.mac-with-dashes_and_more"), Some(0));
    }

    #[test]
    fn an_opaque_token_has_no_entry_sequence() {
        assert_eq!(entry_seq("7.0123456789abcdef0123456789abcdef"), None);
        assert_eq!(entry_seq("7.12.42"), None);
        assert_eq!(entry_seq("7.12.42.mac.extra"), None);
        assert_eq!(entry_seq("7.x12.42.mac"), None);
        assert_eq!(entry_seq("7..42.mac"), None);
        assert_eq!(entry_seq(""), None);
    }

    #[test]
    fn the_store_gives_back_every_form_of_token() {
        let mut s = TokenStore::new(7, 4);
        let opaque = "7.0123456789abcdef0123456789abcdef";
        let leading_zeros = "7.00000000000000000000000000000001";
        let other_concert = "8.0123456789abcdef0123456789abcdef";
        let described = "7.123456.42.a1b2c3";
        let refs: Vec<_> = [opaque, leading_zeros, other_concert, described]
            .iter()
            .map(|t| s.push(t).expect("fits"))
            .collect();
        assert_eq!(s.get(refs[0]), opaque);
        assert_eq!(s.get(refs[1]), leading_zeros);
        assert_eq!(s.get(refs[2]), other_concert);
        assert_eq!(s.get(refs[3]), described);
        assert_eq!(
            s.bytes_used(),
            16 + 16 + other_concert.len() + described.len()
        );
    }

    #[test]
    fn an_empty_or_huge_token_is_refused() {
        let mut s = TokenStore::new(7, 1);
        assert!(s.push("").is_none());
        assert!(s.push(&"x".repeat(256)).is_none());
    }
}
