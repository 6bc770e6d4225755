//! The JSON shapes of accounts, sessions and passkeys, and the mapping of their errors
//! to problem answers.

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use frontrow_domain::credentials::{CredentialError, Profile, Session};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use crate::passkeys::PasskeyError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    #[schema(example = "ada@example.com", max_length = 254)]
    pub email: String,
    #[schema(example = "correct horse battery", max_length = 128, format = Password)]
    pub password: String,
}

/// An open session and its access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedIn {
    pub user_id: i64,
    pub name: String,
    /// HS256 JWT for `Authorization: Bearer <token>`, refused once the session is revoked.
    pub access_token: String,
    pub session_id: String,
    pub expires_at: DateTime<Utc>,
}

impl SignedIn {
    pub fn new(profile: Profile, session: &Session, access_token: String) -> SignedIn {
        SignedIn {
            user_id: profile.id.0,
            name: profile.name,
            access_token,
            session_id: session.id.clone(),
            expires_at: session.expires_at,
        }
    }
}

/// A signed-in device.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The device's User-Agent when it signed in.
    pub device: String,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}

impl SessionView {
    pub fn new(s: Session, current: Option<&str>) -> SessionView {
        SessionView {
            current: current == Some(s.id.as_str()),
            id: s.id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            device: s.agent,
        }
    }
}

/// The caller's account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub id: i64,
    pub name: String,
    /// `null` for an account made without one (it may attach one).
    pub email: Option<String>,
}

impl From<Profile> for ProfileView {
    fn from(p: Profile) -> Self {
        ProfileView {
            id: p.id.0,
            name: p.name,
            email: p.email,
        }
    }
}

/// An email and password for an account made without them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachPassword {
    #[schema(
        example = "ada@example.com",
        min_length = 3,
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f]$"
    )]
    pub email: String,
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128, format = Password)]
    pub password: String,
}

/// Starts a passkey sign-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignUp {
    /// The new account's display name: 1 to 100 characters, not only spaces, no control
    /// characters.
    #[schema(
        example = "Ada",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
}

/// A ceremony under way: pass `options` to the browser and post its answer to the
/// ceremony's finish route.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyCeremonyView {
    pub ceremony: String,
    /// `{publicKey: …}` for `navigator.credentials.create` or `.get` (binary fields
    /// base64url-encoded).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    pub expires_in_seconds: u64,
}

/// The browser's answer to a passkey ceremony (`PublicKeyCredential` as JSON, binary
/// fields base64url-encoded), read as the ceremony's WebAuthn type once the ceremony is
/// found: [`RegistrationAnswer`] or [`AssertionAnswer`] describe it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct PasskeyAnswer(pub serde_json::Value);

/// The client's extension outputs; frontrow asks for none it reads.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoExtensions {}

// Binary fields are canonical unpadded base64url: the unused bits of the last character
// zero, as the decoder demands.

/// `navigator.credentials.create`'s answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationAnswer {
    pub id: String,
    #[serde(rename = "rawId")]
    #[schema(
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    pub raw_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub response: AttestationResponse,
    pub extensions: Option<NoExtensions>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationResponse {
    #[serde(rename = "attestationObject")]
    #[schema(
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    pub attestation_object: String,
    #[serde(rename = "clientDataJSON")]
    #[schema(
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    pub client_data_json: String,
}

/// `navigator.credentials.get`'s answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertionAnswer {
    pub id: String,
    #[serde(rename = "rawId")]
    #[schema(
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    pub raw_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub response: AssertionResponse,
    pub extensions: Option<NoExtensions>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertionResponse {
    #[serde(rename = "authenticatorData")]
    #[schema(
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    pub authenticator_data: String,
    #[serde(rename = "clientDataJSON")]
    #[schema(
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    pub client_data_json: String,
    #[schema(
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    pub signature: String,
    /// The account's WebAuthn handle (a discoverable passkey gives it).
    #[serde(rename = "userHandle")]
    #[schema(
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    pub user_handle: Option<String>,
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        let detail = e.to_string();
        let conflict = |slug, title| ApiError::new(StatusCode::CONFLICT, slug, title, &detail);
        match e {
            CredentialError::InvalidName
            | CredentialError::InvalidEmail
            | CredentialError::InvalidPassword => ApiError::validation(detail),
            CredentialError::CredentialsTaken => {
                conflict("credentials-taken", "Email and password taken")
            }
            CredentialError::AlreadyHasPassword => {
                conflict("password-already-set", "Password already set")
            }
            CredentialError::PasskeyTaken => conflict("passkey-taken", "Passkey registered"),
            CredentialError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid credentials",
                detail,
            ),
            CredentialError::UserNotFound | CredentialError::SessionNotFound => {
                ApiError::not_found(detail)
            }
            CredentialError::Unavailable(src) => ApiError::unavailable("database", &src),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        let detail = e.to_string();
        match e {
            PasskeyError::CeremonyUnknown => ApiError::not_found(detail),
            PasskeyError::Malformed(_) => ApiError::validation(detail),
            // The answer proved nothing: an authentication failure.
            PasskeyError::Rejected(_) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "passkey-rejected",
                "Passkey rejected",
                detail,
            ),
            PasskeyError::UnknownPasskey => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "passkey-unknown",
                "Unknown passkey",
                detail,
            ),
            PasskeyError::Credential(c) => c.into(),
        }
    }
}
