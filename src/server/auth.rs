//! Who may call the API: a bearer token long enough not to be guessed, or,
//! without one, only clients that name the server by a loopback name (a web
//! page whose domain was rebound to 127.0.0.1 sends its own name as Host).

use std::net::{IpAddr, Ipv6Addr};

use subtle::ConstantTimeEq;

/// The shortest token accepted: 16 bytes, 128 bits when random, out of
/// reach of guessing over the network.
pub const MIN_TOKEN_BYTES: usize = 16;

/// A bearer token that met the rules: at least [`MIN_TOKEN_BYTES`], visible
/// ASCII only (what an `Authorization` header can carry unaltered).
#[derive(Clone)]
pub struct Token(String);

/// Why a token was refused. Never holds the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is empty; an empty token would mean no authentication at all")]
    Empty,
    #[error(
        "the token is {0} bytes long; at least {MIN_TOKEN_BYTES} are required \
         (for instance `openssl rand -hex 32`)"
    )]
    TooShort(usize),
    #[error(
        "the token holds a character other than visible ASCII (a space, a control \
         character or a non-ASCII letter), which no Authorization header carries"
    )]
    Unprintable,
}

impl Token {
    pub fn new(text: String) -> Result<Token, TokenError> {
        if text.is_empty() {
            return Err(TokenError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Unprintable);
        }
        if text.len() < MIN_TOKEN_BYTES {
            return Err(TokenError::TooShort(text.len()));
        }
        Ok(Token(text))
    }

    /// Whether `given` is the token, compared in constant time.
    pub fn matches(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

/// Never printed: a token must not reach logs.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Whether a `Host` (or request-target authority) names this server by a
/// loopback name: `localhost`, `127.0.0.1`, `[::1]` or the address it is
/// bound to, with or without a port.
pub fn loopback_host(host: &str, bound: IpAddr) -> bool {
    let Some(name) = without_port(host) else {
        return false;
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    let bracketed = bare.len() != name.len();
    match bare.parse::<IpAddr>() {
        // An IPv6 address is only valid in a Host between brackets.
        Ok(ip) if ip.is_ipv6() != bracketed => false,
        Ok(ip) => {
            ip == IpAddr::from([127, 0, 0, 1])
                || ip == IpAddr::from(Ipv6Addr::LOCALHOST)
                || ip == bound
        }
        Err(_) => false,
    }
}

/// `name` of `name:port`, `[v6]` of `[v6]:port`; `None` when the port is
/// not a number.
fn without_port(host: &str) -> Option<&str> {
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')? + 1;
        match &host[end..] {
            "" => (&host[..end], None),
            rest => (&host[..end], Some(rest.strip_prefix(':')?)),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    match port {
        Some(port) if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_must_be_long_and_printable() {
        assert_eq!(Token::new(String::new()).err(), Some(TokenError::Empty));
        assert_eq!(Token::new("x".into()).err(), Some(TokenError::TooShort(1)));
        assert_eq!(
            Token::new("a".repeat(15)).err(),
            Some(TokenError::TooShort(15))
        );
        assert_eq!(
            Token::new(format!("{} ", "a".repeat(20))).err(),
            Some(TokenError::Unprintable)
        );
        assert_eq!(
            Token::new("é".repeat(10)).err(),
            Some(TokenError::Unprintable)
        );
        let token = Token::new("a".repeat(16)).expect("16 bytes is enough");
        assert!(token.matches(&"a".repeat(16)));
        assert!(!token.matches(&"a".repeat(17)));
        assert!(!format!("{token:?}").contains("aaaa"), "never printed");
    }

    #[test]
    fn only_loopback_names_are_taken_for_this_server() {
        let v4 = IpAddr::from([127, 0, 0, 1]);
        for host in [
            "localhost",
            "LocalHost:8080",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(loopback_host(host, v4), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.2",
            "::1",
            "[::1]x",
            "[::1]:",
            "localhost:",
            "localhost:80a",
            "127.0.0.1:8080:1",
            "",
            "[127.0.0.1]",
            "0.0.0.0",
        ] {
            assert!(!loopback_host(host, v4), "{host}");
        }
        let other = IpAddr::from([127, 0, 0, 2]);
        assert!(loopback_host("127.0.0.2:9000", other), "the bound address");
        let v6 = "::1".parse().unwrap();
        assert!(loopback_host("[0:0:0:0:0:0:0:1]:80", v6));
    }
}
