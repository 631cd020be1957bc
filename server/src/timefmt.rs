//! UTC dates and times for the command line and exports: RFC 3339 text to
//! epoch milliseconds and back (the store keeps epoch milliseconds).

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM[:SS[.fff]]Z`
/// into epoch milliseconds. The error says what was expected.
pub fn parse_utc(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a UTC date or time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
    let num = |t: &str| -> Result<i64, String> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d) = (num(y)?, num(m)? as u32, num(d)? as u32);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(format!("{s:?}: no such date"));
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    if let Some(t) = time {
        let t = t.strip_suffix('Z').ok_or_else(|| {
            format!("{s:?}: give times in UTC with a trailing Z (e.g. 2026-11-24T09:30:00Z)")
        })?;
        let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
        let fields: Vec<&str> = hms.split(':').collect();
        if !(2..=3).contains(&fields.len()) || fields.iter().any(|f| f.len() != 2) {
            return Err(bad());
        }
        let h = num(fields[0])?;
        let min = num(fields[1])?;
        let sec = fields.get(2).map_or(Ok(0), |f| num(f))?;
        if h > 23 || min > 59 || sec > 59 {
            return Err(format!("{s:?}: no such time of day"));
        }
        let millis = if frac.is_empty() {
            0
        } else {
            let digits: String = frac.chars().chain("000".chars()).take(3).collect();
            num(&digits)?
        };
        ms += ((h * 60 + min) * 60 + sec) * 1000 + millis;
    }
    Ok(ms)
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.fffZ`.
pub fn format_utc(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (rest / 3_600_000, rest % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (s, millis) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_utc("1970-01-01"), Ok(0));
        assert_eq!(parse_utc("2026-11-24"), Ok(1_795_478_400_000));
        assert_eq!(parse_utc("2026-11-24T09:30:00Z"), Ok(1_795_512_600_000));
        assert_eq!(parse_utc("2026-11-24T09:30Z"), Ok(1_795_512_600_000));
        assert_eq!(parse_utc("2026-11-24T09:30:00.25Z"), Ok(1_795_512_600_250));
        assert_eq!(parse_utc("2024-02-29"), Ok(1_709_164_800_000));
        assert_eq!(format_utc(1_795_512_600_250), "2026-11-24T09:30:00.250Z");
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn round_trip_over_centuries() {
        for ms in (-5_000_000_000_000i64..10_000_000_000_000).step_by(86_399_999_937) {
            assert_eq!(parse_utc(&format_utc(ms)), Ok(ms), "{}", format_utc(ms));
        }
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-29",
            "2026-11-31",
            "2026-11-24T25:00:00Z",
            "2026-11-24T09:30:00",
            "2026-11-24T09:30:00+03:00",
            "26-11-24",
            "2026-1-4",
            "2026-11-24T9:30Z",
        ] {
            let err = parse_utc(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }
}
