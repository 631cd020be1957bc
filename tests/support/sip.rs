//! Just enough reading of raw SIP for tests that send their own datagrams:
//! the status code of a response and the value of a header. Deliberately
//! independent of the server's parser, so the two can disagree.

/// The status code of a response (`SIP/2.0 NNN ...`), if it is one.
pub fn status_code(msg: &[u8]) -> Option<u16> {
    let rest = msg.strip_prefix(b"SIP/2.0 ")?;
    let code = std::str::from_utf8(rest.get(..3)?).ok()?;
    code.parse().ok()
}

/// The first value of a header, by full or compact name, case-insensitive.
pub fn header(msg: &[u8], name: &str, compact: Option<&str>) -> Option<String> {
    headers(msg, name, compact).into_iter().next()
}

/// Every line of a header, by full or compact name, case-insensitive.
/// Only the header section is searched; folded lines are not joined.
pub fn headers(msg: &[u8], name: &str, compact: Option<&str>) -> Vec<String> {
    let text = String::from_utf8_lossy(msg);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| {
            let (field, value) = line.split_once(':')?;
            let field = field.trim();
            let wanted = field.eq_ignore_ascii_case(name)
                || compact.is_some_and(|c| field.eq_ignore_ascii_case(c));
            wanted.then(|| value.trim().to_owned())
        })
        .collect()
}

/// The Call-ID (or `i:`) of a message.
pub fn call_id(msg: &[u8]) -> Option<String> {
    header(msg, "Call-ID", Some("i"))
}

/// The first line of a message, for failure messages.
pub fn first_line(msg: &[u8]) -> String {
    let text = String::from_utf8_lossy(msg);
    text.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_and_compact_call_id() {
        let msg = b"SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP h\r\ni : abc@h\r\n\r\n";
        assert_eq!(status_code(msg), Some(400));
        assert_eq!(call_id(msg).as_deref(), Some("abc@h"));
        assert_eq!(status_code(b"OPTIONS sip:x SIP/2.0\r\n\r\n"), None);
    }
}
