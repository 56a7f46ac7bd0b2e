//! Failure codes as people write them: gRPC code names or numbers and HTTP
//! statuses, each mapped to the other protocol so one fault fits both.

use serde_json::Value;
use tonic::Code;

/// A failure as a person writes it: a gRPC code or an HTTP status. Each
/// protocol maps the other's codes, so one fault works on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailCode {
    Grpc(Code),
    Http(u16),
}

const GRPC_CODES: [(&str, Code, u16); 17] = [
    ("OK", Code::Ok, 200),
    ("CANCELLED", Code::Cancelled, 499),
    ("UNKNOWN", Code::Unknown, 500),
    ("INVALID_ARGUMENT", Code::InvalidArgument, 400),
    ("DEADLINE_EXCEEDED", Code::DeadlineExceeded, 504),
    ("NOT_FOUND", Code::NotFound, 404),
    ("ALREADY_EXISTS", Code::AlreadyExists, 409),
    ("PERMISSION_DENIED", Code::PermissionDenied, 403),
    ("RESOURCE_EXHAUSTED", Code::ResourceExhausted, 429),
    ("FAILED_PRECONDITION", Code::FailedPrecondition, 412),
    ("ABORTED", Code::Aborted, 409),
    ("OUT_OF_RANGE", Code::OutOfRange, 400),
    ("UNIMPLEMENTED", Code::Unimplemented, 501),
    ("INTERNAL", Code::Internal, 500),
    ("UNAVAILABLE", Code::Unavailable, 503),
    ("DATA_LOSS", Code::DataLoss, 500),
    ("UNAUTHENTICATED", Code::Unauthenticated, 401),
];

impl FailCode {
    pub const DEFAULT: FailCode = FailCode::Grpc(Code::Unavailable);

    /// `"UNAVAILABLE"`, `"unavailable"`, `14`, `"503"` or `503`; null or an
    /// empty string give `None`.
    pub fn parse(value: &Value) -> Result<Option<Self>, String> {
        match value {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_u64()
                .and_then(Self::from_number)
                .map(Some)
                .ok_or_else(|| format!("`{n}` is neither a gRPC code nor an HTTP status")),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => Self::parse_str(s).map(Some),
            other => Err(format!("a code is a string or a number, not `{other}`")),
        }
    }

    pub fn parse_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(n) = text.parse::<u64>() {
            return Self::from_number(n)
                .ok_or_else(|| format!("`{n}` is neither a gRPC code nor an HTTP status"));
        }
        GRPC_CODES
            .iter()
            .find(|(name, _, _)| name.eq_ignore_ascii_case(text))
            .map(|(_, code, _)| FailCode::Grpc(*code))
            .ok_or_else(|| format!("unknown code `{text}` (a gRPC code name or an HTTP status)"))
    }

    fn from_number(n: u64) -> Option<Self> {
        match n {
            0..=16 => Some(FailCode::Grpc(Code::from_i32(n as i32))),
            100..=599 => Some(FailCode::Http(n as u16)),
            _ => None,
        }
    }

    pub fn grpc(self) -> Code {
        match self {
            FailCode::Grpc(code) => code,
            FailCode::Http(status) => match status {
                400 | 422 => Code::InvalidArgument,
                401 => Code::Unauthenticated,
                403 => Code::PermissionDenied,
                404 => Code::NotFound,
                408 | 504 => Code::DeadlineExceeded,
                409 => Code::Aborted,
                412 => Code::FailedPrecondition,
                429 => Code::ResourceExhausted,
                499 => Code::Cancelled,
                501 => Code::Unimplemented,
                502 | 503 => Code::Unavailable,
                400..=499 => Code::FailedPrecondition,
                _ => Code::Internal,
            },
        }
    }

    pub fn http(self) -> u16 {
        match self {
            FailCode::Http(status) => status,
            FailCode::Grpc(code) => GRPC_CODES
                .iter()
                .find(|(_, c, _)| *c == code)
                .map_or(500, |(_, _, status)| *status),
        }
    }
}

/// The gRPC code's name as the spec spells it (`UNAVAILABLE`).
pub fn code_name(code: Code) -> &'static str {
    GRPC_CODES
        .iter()
        .find(|(_, c, _)| *c == code)
        .map_or("UNKNOWN", |(name, _, _)| name)
}
