//! Every `code` the API puts in a problem document, as one enum: clients
//! branch on these strings, so they are declared once, listed in one place
//! (for the docs and the OpenAPI document), and never compared as string
//! literals in code.

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($($variant:ident = $text:literal,)*) => {
        /// A problem document's `code`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in alphabetical order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as clients see it (`SCREAMING_SNAKE_CASE`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    AddressBlocked = "ADDRESS_BLOCKED",
    AlreadyConverted = "ALREADY_CONVERTED",
    AlreadyExists = "ALREADY_EXISTS",
    AmountOutOfRange = "AMOUNT_OUT_OF_RANGE",
    ApiKeyExpired = "API_KEY_EXPIRED",
    ApiKeyNotAllowed = "API_KEY_NOT_ALLOWED",
    ApiKeyRevoked = "API_KEY_REVOKED",
    CaptchaFailed = "CAPTCHA_FAILED",
    ConflictingColumns = "CONFLICTING_COLUMNS",
    ContactOptedOut = "CONTACT_OPTED_OUT",
    CorsOriginDenied = "CORS_ORIGIN_DENIED",
    CronUnauthorized = "CRON_UNAUTHORIZED",
    DatabaseUnavailable = "DATABASE_UNAVAILABLE",
    DecisionConflict = "DECISION_CONFLICT",
    EmailNotVerified = "EMAIL_NOT_VERIFIED",
    EndpointDisabled = "ENDPOINT_DISABLED",
    ExportTooLarge = "EXPORT_TOO_LARGE",
    FileTooLarge = "FILE_TOO_LARGE",
    IdempotencyKeyInUse = "IDEMPOTENCY_KEY_IN_USE",
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED",
    IdempotencyKeyUsed = "IDEMPOTENCY_KEY_USED",
    InspectionCompleted = "INSPECTION_COMPLETED",
    InsufficientScope = "INSUFFICIENT_SCOPE",
    InsufficientStock = "INSUFFICIENT_STOCK",
    InternalError = "INTERNAL_ERROR",
    InvalidApiKey = "INVALID_API_KEY",
    InvalidCredentials = "INVALID_CREDENTIALS",
    InvalidCurrentPassword = "INVALID_CURRENT_PASSWORD",
    InvalidCursor = "INVALID_CURSOR",
    InvalidId = "INVALID_ID",
    InvalidInvitation = "INVALID_INVITATION",
    InvalidParameter = "INVALID_PARAMETER",
    InvalidRefreshToken = "INVALID_REFRESH_TOKEN",
    InvalidResetToken = "INVALID_RESET_TOKEN",
    InvalidToken = "INVALID_TOKEN",
    InvalidTransition = "INVALID_TRANSITION",
    InvalidVerificationToken = "INVALID_VERIFICATION_TOKEN",
    InvitationExpired = "INVITATION_EXPIRED",
    InvitationRevoked = "INVITATION_REVOKED",
    InvitationUsed = "INVITATION_USED",
    IpNotAllowed = "IP_NOT_ALLOWED",
    LastOwner = "LAST_OWNER",
    LineNotOpen = "LINE_NOT_OPEN",
    LinkExpired = "LINK_EXPIRED",
    LinkRevoked = "LINK_REVOKED",
    MalformedJson = "MALFORMED_JSON",
    MemberNotActive = "MEMBER_NOT_ACTIVE",
    MessageInFlight = "MESSAGE_IN_FLIGHT",
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
    NothingToUpdate = "NOTHING_TO_UPDATE",
    NotClockedIn = "NOT_CLOCKED_IN",
    NotDeleted = "NOT_DELETED",
    NotFound = "NOT_FOUND",
    NotOwner = "NOT_OWNER",
    NoOpenShift = "NO_OPEN_SHIFT",
    OdometerDecreasing = "ODOMETER_DECREASING",
    OrganizationInactive = "ORGANIZATION_INACTIVE",
    OrganizationNotFound = "ORGANIZATION_NOT_FOUND",
    OutsideWorkingHours = "OUTSIDE_WORKING_HOURS",
    Overpayment = "OVERPAYMENT",
    PasswordResetRequired = "PASSWORD_RESET_REQUIRED",
    PayloadTooLarge = "PAYLOAD_TOO_LARGE",
    PermissionDenied = "PERMISSION_DENIED",
    PlanChangeRequiresBilling = "PLAN_CHANGE_REQUIRES_BILLING",
    PreconditionRequired = "PRECONDITION_REQUIRED",
    PurgeInProgress = "PURGE_IN_PROGRESS",
    RateLimitExceeded = "RATE_LIMIT_EXCEEDED",
    RefreshTokenReused = "REFRESH_TOKEN_REUSED",
    ResyncRequired = "RESYNC_REQUIRED",
    SelfChange = "SELF_CHANGE",
    SessionExpired = "SESSION_EXPIRED",
    SessionRevoked = "SESSION_REVOKED",
    SlotTaken = "SLOT_TAKEN",
    SlugTaken = "SLUG_TAKEN",
    StorageUnavailable = "STORAGE_UNAVAILABLE",
    TimeEntryOverlap = "TIME_ENTRY_OVERLAP",
    Unauthenticated = "UNAUTHENTICATED",
    UnknownParameter = "UNKNOWN_PARAMETER",
    UnsupportedFileType = "UNSUPPORTED_FILE_TYPE",
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE",
    UploadExpired = "UPLOAD_EXPIRED",
    UploadMismatch = "UPLOAD_MISMATCH",
    UploadNotFound = "UPLOAD_NOT_FOUND",
    UserInactive = "USER_INACTIVE",
    UserPending = "USER_PENDING",
    ValidationFailed = "VALIDATION_FAILED",
    VersionMismatch = "VERSION_MISMATCH",
    WriteConflict = "WRITE_CONFLICT",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn codes_are_unique_sorted_screaming_snake_case() {
        let texts: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        let mut sorted = texts.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(texts, sorted);
        assert!(texts.iter().all(|t| t
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')));
    }
}
