//! RFC 3339 UTC timestamps without a date-time dependency.
//!
//! The domain crate reads no clock, so "now" is taken here, once per request,
//! and passed down. The format has a fixed width (microseconds, `Z`), so that
//! stored timestamps sort as text in time order.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as RFC 3339 UTC with microseconds: `2025-11-25T06:19:00.123456Z`.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `t` as RFC 3339 UTC with microseconds. Times before 1970 are clamped to
/// the epoch (a wall clock that far off is not worth a branch elsewhere).
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_micros()
    )
}

/// Seconds since the Unix epoch, for JWT time checks.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Proleptic Gregorian date from days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_164_800, 123_456_789); // leap day 2024
        assert_eq!(rfc3339(t), "2024-02-29T00:00:00.123456Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_868_799); // 2000-02-29T23:59:59
        assert_eq!(rfc3339(t), "2000-02-29T23:59:59.000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
        assert_eq!(rfc3339(t), "2100-01-01T00:00:00.000000Z");
    }

    #[test]
    fn every_day_for_a_few_centuries_round_trips() {
        // Walk day by day and check the calendar advances by exactly one day.
        let mut prev = civil_from_days(-1);
        for d in 0..(400 * 366) {
            let cur = civil_from_days(d);
            let next_expected = if cur.1 == prev.1 && cur.0 == prev.0 {
                (prev.0, prev.1, prev.2 + 1)
            } else {
                cur
            };
            assert_eq!(cur, next_expected);
            assert!(cur.2 == 1 || cur.2 == prev.2 + 1, "{prev:?} -> {cur:?}");
            prev = cur;
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
