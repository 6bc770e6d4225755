//! The ticket code on the wire: a compact binary record, signed, as base64url text short
//! enough for a QR code a phone reads at a glance (about 120 characters for a static
//! code).
//!
//! A static code is `1 | flags | kid(4) | ticket | schedule | place | valid_from |
//! valid_until | generation | [holder key (33)] | signature(64)`, numbers as unsigned
//! LEB128 varints, times in Unix seconds, the Ed25519 signature over every byte before
//! it. A rotating code is `2 | len | static code bytes | window | holder signature(64)`:
//! the holder's P-256 signature over [`rotating_message`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::keys::{HolderKey, KeyId};
use super::model::{Place, TicketId};
use crate::model::{ScheduleId, SeatId};

const STATIC: u8 = 1;
const ROTATING: u8 = 2;
const FLAG_AREA: u8 = 1;
const FLAG_HOLDER: u8 = 2;
/// Length of an Ed25519 or raw P-256 signature.
pub const SIGNATURE_LEN: usize = 64;
/// The longest code text accepted: larger input is refused before decoding.
pub const MAX_CODE_CHARS: usize = 512;

/// What an issuer signs about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub ticket: TicketId,
    pub schedule: ScheduleId,
    pub place: Place,
    /// Unix seconds.
    pub valid_from: i64,
    /// Unix seconds.
    pub valid_until: i64,
    pub kid: KeyId,
    /// Raised by each re-binding to another holder key; codes of older generations are
    /// revoked.
    pub generation: u32,
    /// Set when the ticket must be shown as a rotating code signed by this key.
    pub holder: Option<HolderKey>,
}

/// A static code taken apart: the claims, the signed bytes and the issuer's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCode {
    pub claims: Claims,
    /// Every byte the signature covers.
    pub signed: Vec<u8>,
    pub signature: [u8; SIGNATURE_LEN],
}

/// A code as scanned: static, or rotating around a static one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    Static(StaticCode),
    Rotating {
        inner: StaticCode,
        /// The 15-second window the holder signed.
        window: u64,
        signature: [u8; SIGNATURE_LEN],
    },
}

impl Scanned {
    /// The ticket's static code, inside a rotating one or alone.
    pub fn inner(&self) -> &StaticCode {
        match self {
            Scanned::Static(s) | Scanned::Rotating { inner: s, .. } => s,
        }
    }
}

/// Why a text is not a code at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not base64url")]
    Encoding,
    #[error("too long")]
    TooLong,
    #[error("unknown code version")]
    Version,
    #[error("truncated or malformed")]
    Malformed,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, FormatError> {
        let b = *self.bytes.get(self.at).ok_or(FormatError::Malformed)?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], FormatError> {
        let end = self.at.checked_add(n).ok_or(FormatError::Malformed)?;
        let s = self.bytes.get(self.at..end).ok_or(FormatError::Malformed)?;
        self.at = end;
        Ok(s)
    }

    /// An unsigned LEB128 number in its shortest form (so each value has one encoding
    /// and a changed byte cannot re-spell the same claims).
    fn varint(&mut self) -> Result<u64, FormatError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err(FormatError::Malformed);
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(FormatError::Malformed);
                }
                return Ok(v);
            }
        }
        Err(FormatError::Malformed)
    }

    fn id(&mut self) -> Result<i64, FormatError> {
        i64::try_from(self.varint()?).map_err(|_| FormatError::Malformed)
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The bytes an issuer signs for `c`.
pub fn claims_bytes(c: &Claims) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    out.push(STATIC);
    let (flag, place) = match c.place {
        Place::Seat(s) => (0, s.0),
        Place::Area(a) => (FLAG_AREA, a),
    };
    out.push(flag | if c.holder.is_some() { FLAG_HOLDER } else { 0 });
    out.extend_from_slice(&c.kid.0);
    put_varint(&mut out, unsigned(c.ticket.0));
    put_varint(&mut out, unsigned(c.schedule.0));
    put_varint(&mut out, unsigned(place));
    put_varint(&mut out, unsigned(c.valid_from));
    put_varint(&mut out, unsigned(c.valid_until));
    put_varint(&mut out, u64::from(c.generation));
    if let Some(h) = &c.holder {
        out.extend_from_slice(h.compressed());
    }
    out
}

fn parse_static(bytes: &[u8]) -> Result<StaticCode, FormatError> {
    let mut r = Reader { bytes, at: 0 };
    if r.byte()? != STATIC {
        return Err(FormatError::Version);
    }
    let flags = r.byte()?;
    if flags & !(FLAG_AREA | FLAG_HOLDER) != 0 {
        return Err(FormatError::Malformed);
    }
    let mut kid = [0u8; 4];
    kid.copy_from_slice(r.take(4)?);
    let ticket = TicketId(r.id()?);
    let schedule = ScheduleId(r.id()?);
    let place_id = r.id()?;
    let place = if flags & FLAG_AREA != 0 {
        Place::Area(place_id)
    } else {
        Place::Seat(SeatId(place_id))
    };
    let valid_from = r.id()?;
    let valid_until = r.id()?;
    let generation = u32::try_from(r.varint()?).map_err(|_| FormatError::Malformed)?;
    let holder = if flags & FLAG_HOLDER != 0 {
        Some(HolderKey::from_sec1(r.take(33)?).map_err(|_| FormatError::Malformed)?)
    } else {
        None
    };
    let signed_len = r.at;
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(r.take(SIGNATURE_LEN)?);
    if !r.done() {
        return Err(FormatError::Malformed);
    }
    Ok(StaticCode {
        claims: Claims {
            ticket,
            schedule,
            place,
            valid_from,
            valid_until,
            kid: KeyId(kid),
            generation,
            holder,
        },
        signed: bytes[..signed_len].to_vec(),
        signature,
    })
}

/// Joins signed claims and their signature into code text.
pub fn encode_static(signed: &[u8], signature: &[u8; SIGNATURE_LEN]) -> String {
    let mut out = Vec::with_capacity(signed.len() + SIGNATURE_LEN);
    out.extend_from_slice(signed);
    out.extend_from_slice(signature);
    URL_SAFE_NO_PAD.encode(out)
}

/// What a holder signs to show `static_code` during `window`.
pub fn rotating_message(static_code: &[u8], window: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(static_code.len() + 24);
    m.extend_from_slice(b"frontrow-rotating-v1");
    m.extend_from_slice(static_code);
    m.extend_from_slice(&window.to_be_bytes());
    m
}

/// A rotating code: the static code's bytes, the window and the holder's signature.
pub fn encode_rotating(static_code: &[u8], window: u64, signature: &[u8; SIGNATURE_LEN]) -> String {
    let mut out = Vec::with_capacity(static_code.len() + 80);
    out.push(ROTATING);
    put_varint(&mut out, static_code.len() as u64);
    out.extend_from_slice(static_code);
    put_varint(&mut out, window);
    out.extend_from_slice(signature);
    URL_SAFE_NO_PAD.encode(out)
}

/// The raw bytes of a code text (for a holder to sign, or a test to mutate).
///
/// # Errors
/// `TooLong`, `Encoding`.
pub fn decode_text(text: &str) -> Result<Vec<u8>, FormatError> {
    let text = text.trim();
    if text.len() > MAX_CODE_CHARS {
        return Err(FormatError::TooLong);
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| FormatError::Encoding)
}

/// Takes a code text apart, checking nothing but its form (signatures are the
/// verifier's).
///
/// # Errors
/// `TooLong`, `Encoding`, `Version`, `Malformed`.
pub fn parse(text: &str) -> Result<Scanned, FormatError> {
    let bytes = decode_text(text)?;
    match bytes.first() {
        Some(&STATIC) => Ok(Scanned::Static(parse_static(&bytes)?)),
        Some(&ROTATING) => {
            let mut r = Reader {
                bytes: &bytes,
                at: 1,
            };
            let len = usize::try_from(r.varint()?).map_err(|_| FormatError::Malformed)?;
            let inner = parse_static(r.take(len)?)?;
            let window = r.varint()?;
            let mut signature = [0u8; SIGNATURE_LEN];
            signature.copy_from_slice(r.take(SIGNATURE_LEN)?);
            if !r.done() {
                return Err(FormatError::Malformed);
            }
            Ok(Scanned::Rotating {
                inner,
                window,
                signature,
            })
        }
        _ => Err(FormatError::Version),
    }
}

/// The static code's bytes (signed claims and signature), as a holder signs them.
pub fn static_bytes(code: &StaticCode) -> Vec<u8> {
    let mut out = code.signed.clone();
    out.extend_from_slice(&code.signature);
    out
}
